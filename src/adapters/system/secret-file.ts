/**
 * A small file holding one secret (the demo admin token), readable only by its owner.
 */
import { mkdir, readFile, writeFile, chmod } from 'node:fs/promises';
import { dirname } from 'node:path';
import { AppError } from '../../core/errors.ts';

/** One secret kept in one file with mode 0600. */
export interface SecretFile {
  readonly path: string;
  /** The stored secret, trimmed, or `undefined` when the file does not exist. */
  read(): Promise<string | undefined>;
  /** Replaces the secret. The file is created with mode 0600 and kept at 0600. */
  write(secret: string): Promise<void>;
}

/** A `SecretFile` at `path`. Throws INTERNAL from `read`/`write` on file-system failures. */
export function openSecretFile(path: string): SecretFile {
  return {
    path,
    async read() {
      try {
        return (await readFile(path, 'utf8')).trim();
      } catch (error) {
        if (isErrnoException(error) && error.code === 'ENOENT') return undefined;
        throw new AppError('INTERNAL', `cannot read ${path}`, { cause: error });
      }
    },
    async write(secret) {
      try {
        await mkdir(dirname(path), { recursive: true });
        await writeFile(path, `${secret}\n`, { mode: 0o600 });
        // `mode` applies only when the file is created; an existing file keeps its own.
        await chmod(path, 0o600);
      } catch (error) {
        throw new AppError('INTERNAL', `cannot write ${path}`, { cause: error });
      }
    },
  };
}

function isErrnoException(error: unknown): error is NodeJS.ErrnoException {
  return error instanceof Error && 'code' in error;
}
