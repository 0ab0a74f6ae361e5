/**
 * One entry point from configuration to a `KeyBackend`: the composition root calls this and never
 * names a backend itself.
 */
import { AppError } from '../../core/errors.ts';
import type { KeyBackend } from '../../core/ports.ts';
import { openKeystore, type KeystoreOptions } from './keystore.ts';
import { openPkcs11Backend, type Pkcs11Options } from './pkcs11-backend.ts';

/**
 * Where keys live, as configuration says. `keystore`: an encrypted directory unlocked by a
 * passphrase or a KEK file (exactly one). `pkcs11`: a token found by label (or slot) in a vendor
 * module, with its user PIN. Secrets in here are never logged.
 */
export type KeyBackendOptions =
  ({ readonly kind: 'keystore' } & KeystoreOptions) | ({ readonly kind: 'pkcs11' } & Pkcs11Options);

/**
 * Opens the configured key backend. Throws CONFIG_INVALID for unusable options and KEY_UNAVAILABLE
 * when the backend cannot be opened (wrong passphrase or PIN, weak file permissions, token absent,
 * a key on the token that could be exported).
 */
export async function createKeyBackend(options: KeyBackendOptions): Promise<KeyBackend> {
  switch (options.kind) {
    case 'keystore':
      return openKeystore(options);
    case 'pkcs11':
      return openPkcs11Backend(options);
    default: {
      const kind: unknown = (options as { kind?: unknown }).kind;
      throw new AppError('CONFIG_INVALID', `unknown key backend ${JSON.stringify(kind)}`, {
        errors: [{ path: 'keys.kind', message: "use 'keystore' or 'pkcs11'" }],
      });
    }
  }
}
