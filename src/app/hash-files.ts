/**
 * Streaming file digests for `countersign sign` and `countersign verify`: a file is read in
 * bounded chunks and fed to the hash as it arrives, so a multi-gigabyte release artifact costs
 * one chunk of memory, never its size. Several algorithms can be computed in the same pass (a
 * DSSE attestation may name its subjects by any of sha256, sha384, sha512).
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { AppError } from '../core/errors.ts';
import type { HashAlgorithm } from '../core/sigstore/hash-algorithm.ts';

/** Bytes read per chunk: large enough for throughput, small enough to never matter. */
export const HASH_CHUNK_BYTES = 1024 * 1024;

/** The digests of one file. */
export interface FileDigests {
  /** Bytes hashed. */
  readonly size: number;
  /** One digest per requested algorithm. */
  readonly digests: ReadonlyMap<HashAlgorithm, Uint8Array>;
}

export interface HashFileOptions {
  /** Called after every chunk with the bytes hashed so far. */
  readonly onProgress?: (bytesHashed: number) => void;
  /** Chunk size in bytes (default {@link HASH_CHUNK_BYTES}). */
  readonly chunkBytes?: number;
  readonly signal?: AbortSignal;
  /** How messages name the file (default `path`), e.g. as the user typed it. */
  readonly label?: string;
}

/**
 * Hashes a file with each of `algorithms` in one streaming pass.
 *
 * @throws {@link AppError} INVALID_INPUT when the file does not exist, is not a regular file, or
 *   cannot be read (the message names the path; the hint says what to check).
 */
export async function hashFile(
  path: string,
  algorithms: readonly HashAlgorithm[],
  options: HashFileOptions = {},
): Promise<FileDigests> {
  if (algorithms.length === 0) throw new AppError('INTERNAL', 'hashFile needs an algorithm');
  const label = options.label ?? path;
  await statRegularFile(path, label);
  const hashes = new Map<HashAlgorithm, Hash>(
    algorithms.map((algorithm) => [algorithm, createHash(algorithm)]),
  );
  let size = 0;
  try {
    const stream = createReadStream(path, {
      highWaterMark: options.chunkBytes ?? HASH_CHUNK_BYTES,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      for (const hash of hashes.values()) hash.update(chunk);
      size += chunk.byteLength;
      options.onProgress?.(size);
    }
  } catch (cause) {
    throw fileError(label, cause);
  }
  return {
    size,
    digests: new Map([...hashes].map(([algorithm, hash]) => [algorithm, hash.digest()])),
  };
}

/**
 * The size of a regular file, or an INVALID_INPUT error naming it (missing, a directory, not
 * readable). Lets a command check every operand before doing any work.
 */
export async function statRegularFile(path: string, label: string = path): Promise<number> {
  let info;
  try {
    info = await stat(path);
  } catch (cause) {
    throw fileError(label, cause);
  }
  if (!info.isFile()) {
    throw new AppError('INVALID_INPUT', `${label} is not a regular file`, {
      hint: 'name files, not directories (a shell glob such as dist/* expands to the files)',
    });
  }
  return info.size;
}

function fileError(path: string, cause: unknown): AppError {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT') {
    return new AppError('INVALID_INPUT', `${path}: no such file`, {
      hint: 'check the path (relative paths start at the current directory)',
      cause,
    });
  }
  if (code === 'EACCES' || code === 'EPERM') {
    return new AppError('INVALID_INPUT', `${path}: permission denied`, {
      hint: 'the file must be readable by this user',
      cause,
    });
  }
  if (code === 'EISDIR') {
    return new AppError('INVALID_INPUT', `${path} is not a regular file`, { cause });
  }
  return new AppError('INVALID_INPUT', `cannot read ${path}`, { cause });
}
