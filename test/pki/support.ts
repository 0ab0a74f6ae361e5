/**
 * Helpers for the PKI and timestamp suites: in-memory P-256 key handles, a fixed clock, and
 * OpenSSL as the independent oracle.
 */
import { execFile } from 'node:child_process';
import { generateKeyPairSync, randomBytes, sign as signBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppError } from '../../src/core/errors.ts';
import type { Clock, KeyBackend, KeyHandle, KeyPurpose, Random } from '../../src/core/ports.ts';
import { encodePem } from '../../src/core/x509/pem.ts';

/** A P-256 key held in memory, behind the same port the keystore and PKCS#11 backends implement. */
export function createTestKey(purpose: KeyPurpose, id: string = purpose): KeyHandle {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    id,
    purpose,
    algorithm: 'ecdsa-p256-sha256',
    publicKeySpki: new Uint8Array(publicKey.export({ type: 'spki', format: 'der' })),
    sign: (message) =>
      Promise.resolve(
        new Uint8Array(signBytes('sha256', message, { key: privateKey, dsaEncoding: 'der' })),
      ),
  };
}

/** A fresh ephemeral P-256 public key (DER SPKI), as a signing job would present. */
export function createEphemeralSpki(): Uint8Array {
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return new Uint8Array(publicKey.export({ type: 'spki', format: 'der' }));
}

export const testRandom: Random = { bytes: (length) => new Uint8Array(randomBytes(length)) };

export function fixedClock(at: Date): Clock {
  return { now: () => new Date(at.getTime()) };
}

export interface OpensslResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `openssl` with `args`; resolves with its exit code and output, never rejects on failure. */
export function openssl(args: readonly string[], cwd?: string): Promise<OpensslResult> {
  return new Promise((resolve, reject) => {
    execFile('openssl', args, { cwd, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error !== null && typeof error.code !== 'number') {
        reject(new Error(`openssl could not run: ${error.message}`, { cause: error }));
        return;
      }
      resolve({ code: error === null ? 0 : Number(error.code), stdout, stderr });
    });
  });
}

/** `openssl x509 -noout -text` of a DER certificate. */
export async function describeCertificate(dir: string, der: Uint8Array): Promise<string> {
  const path = join(dir, `describe-${randomBytes(4).toString('hex')}.pem`);
  await writeFile(path, encodePem('CERTIFICATE', der));
  const result = await openssl(['x509', '-noout', '-text', '-in', path]);
  if (result.code !== 0) throw new Error(`openssl x509 failed: ${result.stderr}`);
  return result.stdout;
}

/** A temporary directory removed by the returned function. */
export async function createTempDir(): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'countersign-pki-'));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** Writes certificates (DER) as one PEM file. */
export async function writePemFile(path: string, ...ders: Uint8Array[]): Promise<void> {
  await writeFile(path, ders.map((der) => encodePem('CERTIFICATE', der)).join(''));
}

/** Unix seconds of `date`, for `openssl verify -attime`. */
export function unixSeconds(date: Date): string {
  return String(Math.floor(date.getTime() / 1000));
}

/** An in-memory `KeyBackend` with the port's rules (CONFLICT, NOT_FOUND, purpose check). */
export function createTestKeyBackend(): KeyBackend {
  const keys = new Map<string, KeyHandle>();
  return {
    kind: 'keystore',
    createKey(id, purpose) {
      if (keys.has(id)) return Promise.reject(new AppError('CONFLICT', `key ${id} exists`));
      const key = createTestKey(purpose, id);
      keys.set(id, key);
      return Promise.resolve(key);
    },
    getKey(id, purpose) {
      const key = keys.get(id);
      if (key === undefined) return Promise.reject(new AppError('NOT_FOUND', `no key ${id}`));
      if (key.purpose !== purpose) {
        return Promise.reject(new AppError('KEY_UNAVAILABLE', `key ${id} is a ${key.purpose} key`));
      }
      return Promise.resolve(key);
    },
    listKeys() {
      return Promise.resolve(
        [...keys.values()]
          .map(({ id, purpose, algorithm, publicKeySpki }) => ({
            id,
            purpose,
            algorithm,
            publicKeySpki,
          }))
          .sort((a, b) => a.id.localeCompare(b.id)),
      );
    },
    health: () => Promise.resolve({ ok: true }),
    close: () => Promise.resolve(),
  };
}
