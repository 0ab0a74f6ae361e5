/**
 * Files that hold key material (threat model M5): readable by their owner only, checked before
 * every read, and written atomically so a crash never leaves half a key file (FT-3).
 *
 * Synchronous on purpose: keys are created and opened at start-up or on rare operator actions,
 * never on the signing hot path, and one straight sequence of syscalls is easier to keep crash-safe.
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fchmodSync,
  fsyncSync,
  linkSync,
  lstatSync,
  openSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import type { Stats } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { AppError } from '../../core/errors.ts';

/** Mode bits that must be clear on key files and their directory: no access for group or others. */
const GROUP_OR_WORLD_ACCESS = 0o077;

/**
 * `lstat`s `path` and checks that it is a `kind` (not a symbolic link) that only its owner can
 * access. Returns undefined when it does not exist. Throws KEY_UNAVAILABLE naming the path and the
 * `chmod` to run when group or others have any access, and when it cannot be inspected.
 */
export function statOwnerOnly(path: string, kind: 'file' | 'directory'): Stats | undefined {
  let stats: Stats;
  try {
    stats = lstatSync(path);
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return undefined;
    throw new AppError('KEY_UNAVAILABLE', `cannot inspect ${kind} ${path}`, { cause: error });
  }
  const isKind = kind === 'file' ? stats.isFile() : stats.isDirectory();
  if (!isKind) {
    // A symbolic link could point anywhere, including at a file with other permissions.
    throw new AppError(
      'KEY_UNAVAILABLE',
      `${path} is not a regular ${kind}${stats.isSymbolicLink() ? ' (it is a symbolic link)' : ''}`,
    );
  }
  if ((stats.mode & GROUP_OR_WORLD_ACCESS) !== 0) {
    const wanted = kind === 'file' ? '600' : '700';
    throw new AppError(
      'KEY_UNAVAILABLE',
      `${kind} ${path} is accessible to group or others (mode ${(stats.mode & 0o777).toString(8)}); run: chmod ${wanted} ${path}`,
      { hint: `chmod ${wanted} ${path}` },
    );
  }
  return stats;
}

/**
 * Writes `data` to `path` with mode 0600: write a temp file beside it, fsync, then rename (or, when
 * `replace` is false, hard-link, which fails instead of overwriting), then fsync the directory.
 * Throws CONFLICT when `replace` is false and `path` exists, KEY_UNAVAILABLE on I/O errors; the
 * temp file is removed either way.
 */
export function writeFileAtomically(
  path: string,
  data: Uint8Array | string,
  options: { readonly replace: boolean },
): void {
  const dir = dirname(path);
  // Leading dot and random suffix: listings skip it, and concurrent writers never share a temp.
  const temp = join(dir, `.${basename(path)}.tmp-${randomBytes(6).toString('hex')}`);
  let tempExists = false;
  try {
    const fd = openSync(temp, 'wx', 0o600);
    tempExists = true;
    try {
      fchmodSync(fd, 0o600); // the umask may have narrowed it further, never widened; be exact
      const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
      let offset = 0;
      while (offset < bytes.length) offset += writeSync(fd, bytes, offset);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (options.replace) {
      renameSync(temp, path);
      tempExists = false;
    } else {
      linkSync(temp, path);
    }
    fsyncDirectory(dir);
  } catch (error) {
    if (isErrno(error, 'EEXIST')) {
      throw new AppError('CONFLICT', `${path} already exists`, { cause: error });
    }
    throw new AppError('KEY_UNAVAILABLE', `cannot write ${path}`, { cause: error });
  } finally {
    if (tempExists) {
      try {
        unlinkSync(temp);
      } catch {
        // Best effort: a leftover dot-file is ignored by every reader.
      }
    }
  }
}

/** fsync a directory so a rename or link in it survives a power loss. */
export function fsyncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** True when `error` is a Node system error with `code`. */
export function isErrno(error: unknown, code: string): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === code;
}
