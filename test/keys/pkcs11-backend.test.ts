/**
 * The PKCS#11 key backend on a real SoftHSM2 token: key generation on the token, attributes read
 * back, signatures verified by node:crypto, concurrency, purpose enforcement and the start-up audit.
 * Faults (token removal, session loss, PIN) are in pkcs11-faults.test.ts.
 */
import assert from 'node:assert/strict';
import { createPublicKey, verify } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pkcs11js from 'pkcs11js';
import type { PKCS11 } from 'pkcs11js';
import { createKeyBackend } from '../../src/adapters/keys/create-key-backend.ts';
import {
  openPkcs11Backend,
  type Pkcs11KeyBackend,
} from '../../src/adapters/keys/pkcs11-backend.ts';
import type { KeyHandle } from '../../src/core/ports.ts';
import { requireComponentForSuite } from '../support/components.ts';
import {
  createSoftHsm,
  findSlotByLabel,
  findSoftHsmModule,
  loadPkcs11ForTest,
  SOFTHSM_MISSING_REASON,
  type SoftHsm,
  type SoftHsmToken,
} from '../support/softhsm.ts';

const P256_OID = Buffer.from('06082a8648ce3d030107', 'hex');

function verifies(handle: KeyHandle, message: Uint8Array, signature: Uint8Array): boolean {
  const key = createPublicKey({
    key: Buffer.from(handle.publicKeySpki),
    format: 'der',
    type: 'spki',
  });
  return verify('sha256', message, { key, dsaEncoding: 'der' }, signature);
}

/** Reads boolean attributes of the private key `id` from the test's own view of the token. */
function readPrivateKeyFlags(lib: PKCS11, slot: Buffer, id: string): Record<string, boolean> {
  const session = lib.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION);
  try {
    lib.C_FindObjectsInit(session, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
      { type: pkcs11js.CKA_ID, value: Buffer.from(id) },
    ]);
    const objects = lib.C_FindObjects(session, 10);
    lib.C_FindObjectsFinal(session);
    assert.equal(objects.length, 1);
    const object = objects[0] as Buffer;
    const names = {
      token: pkcs11js.CKA_TOKEN,
      private: pkcs11js.CKA_PRIVATE,
      sensitive: pkcs11js.CKA_SENSITIVE,
      alwaysSensitive: pkcs11js.CKA_ALWAYS_SENSITIVE,
      extractable: pkcs11js.CKA_EXTRACTABLE,
      neverExtractable: pkcs11js.CKA_NEVER_EXTRACTABLE,
      modifiable: pkcs11js.CKA_MODIFIABLE,
      sign: pkcs11js.CKA_SIGN,
    };
    const flags: Record<string, boolean> = {};
    for (const [name, type] of Object.entries(names)) {
      const [attribute] = lib.C_GetAttributeValue(session, object, [{ type }]);
      flags[name] = (attribute?.value[0] ?? 0) !== 0;
    }
    // The private value itself must be unreadable.
    assert.throws(() => lib.C_GetAttributeValue(session, object, [{ type: pkcs11js.CKA_VALUE }]), {
      message: /CKR_ATTRIBUTE_SENSITIVE/,
    });
    return flags;
  } finally {
    lib.C_CloseSession(session);
  }
}

/**
 * Generates a key pair from the test side, bypassing the backend's templates, to plant keys the
 * backend must refuse.
 */
function plantKeyPair(
  lib: PKCS11,
  slot: Buffer,
  pin: string,
  keys: { publicId: string; privateId: string; label: string; extractable: boolean },
): void {
  const session = lib.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
  try {
    lib.C_Login(session, pkcs11js.CKU_USER, pin);
    lib.C_GenerateKeyPair(
      session,
      { mechanism: pkcs11js.CKM_EC_KEY_PAIR_GEN },
      [
        { type: pkcs11js.CKA_TOKEN, value: true },
        { type: pkcs11js.CKA_EC_PARAMS, value: P256_OID },
        { type: pkcs11js.CKA_VERIFY, value: true },
        { type: pkcs11js.CKA_ID, value: Buffer.from(keys.publicId) },
      ],
      [
        { type: pkcs11js.CKA_TOKEN, value: true },
        { type: pkcs11js.CKA_PRIVATE, value: true },
        { type: pkcs11js.CKA_SIGN, value: true },
        { type: pkcs11js.CKA_SENSITIVE, value: true },
        { type: pkcs11js.CKA_EXTRACTABLE, value: keys.extractable },
        { type: pkcs11js.CKA_MODIFIABLE, value: false },
        { type: pkcs11js.CKA_ID, value: Buffer.from(keys.privateId) },
        { type: pkcs11js.CKA_LABEL, value: keys.label },
      ],
    );
  } finally {
    // Closing the application's last session on the token also logs it out.
    lib.C_CloseSession(session);
  }
}

describe('PKCS#11 key backend on SoftHSM2', () => {
  const module = findSoftHsmModule();
  if (!requireComponentForSuite('SoftHSM2', module !== undefined, SOFTHSM_MISSING_REASON)) return;

  let hsm: SoftHsm;
  let main: SoftHsmToken;
  let audit: SoftHsmToken;
  let lib: PKCS11;
  let backend: Pkcs11KeyBackend;

  before(async () => {
    hsm = createSoftHsm();
    // Every token exists before the module is first initialised in this process: SoftHSM2 only
    // scans its token directory then.
    main = hsm.initToken('main');
    audit = hsm.initToken('audit');
    hsm.useInThisProcess();
    backend = await openPkcs11Backend({
      module: hsm.module,
      tokenLabel: main.label,
      pin: main.pin,
    });
    lib = loadPkcs11ForTest(hsm.module);
  });
  after(async () => {
    await backend.close();
    hsm.cleanup();
  });

  describe('createKey', () => {
    let log: KeyHandle;
    before(async () => {
      log = await backend.createKey('log-1', 'log');
    });

    it('generates the key on the token as sensitive, non-extractable and unmodifiable', () => {
      assert.deepEqual(readPrivateKeyFlags(lib, findSlotByLabel(lib, main.label), 'log-1'), {
        token: true,
        private: true,
        sensitive: true,
        alwaysSensitive: true,
        extractable: false,
        neverExtractable: true,
        modifiable: false,
        sign: true,
      });
    });

    it('returns a P-256 public key read from the token', () => {
      const key = createPublicKey({
        key: Buffer.from(log.publicKeySpki),
        format: 'der',
        type: 'spki',
      });
      assert.equal(key.asymmetricKeyDetails?.namedCurve, 'prime256v1');
      assert.equal(log.purpose, 'log');
      assert.equal(log.algorithm, 'ecdsa-p256-sha256');
    });

    it('signs DER signatures that node:crypto verifies over the message, and only over it', async () => {
      const message = new TextEncoder().encode('checkpoint body');
      const signature = await log.sign(message);
      assert.equal(signature[0], 0x30);
      assert.equal(verifies(log, message, signature), true);
      assert.equal(verifies(log, new TextEncoder().encode('another body'), signature), false);
    });

    it('signs 50 messages in parallel, each signature valid for its own message', async () => {
      const messages = Array.from({ length: 50 }, (_, i) => new TextEncoder().encode(`entry ${i}`));
      const signatures = await Promise.all(messages.map((message) => log.sign(message)));
      signatures.forEach((signature, i) => {
        assert.equal(verifies(log, messages[i] as Uint8Array, signature), true, `signature ${i}`);
      });
    });

    it('refuses an id that exists with CONFLICT', async () => {
      await assert.rejects(backend.createKey('log-1', 'log'), { code: 'CONFLICT' });
      await assert.rejects(backend.createKey('log-1', 'tsa'), { code: 'CONFLICT' });
    });

    it('refuses an id that is not a valid key id with INVALID_INPUT', async () => {
      await assert.rejects(backend.createKey('bad id', 'log'), { code: 'INVALID_INPUT' });
    });
  });

  describe('getKey', () => {
    it('finds a key after the backend is reopened, with the same public key', async () => {
      const created = await backend.createKey('tsa-1', 'tsa');
      const reopened = await openPkcs11Backend({
        module: hsm.module,
        tokenLabel: main.label,
        pin: main.pin,
      });
      try {
        const found = await reopened.getKey('tsa-1', 'tsa');
        assert.deepEqual(found.publicKeySpki, created.publicKeySpki);
        const message = new TextEncoder().encode('timestamp');
        assert.equal(verifies(created, message, await found.sign(message)), true);
      } finally {
        await reopened.close();
      }
    });

    it('refuses a log key asked for as a channel-ca key with KEY_UNAVAILABLE', async () => {
      await assert.rejects(backend.getKey('log-1', 'channel-ca'), {
        code: 'KEY_UNAVAILABLE',
        message: /log-1 is a log key and cannot be used as a channel-ca key/,
      });
      const reopened = await openPkcs11Backend({
        module: hsm.module,
        tokenLabel: main.label,
        pin: main.pin,
      });
      try {
        await assert.rejects(reopened.getKey('log-1', 'channel-ca'), { code: 'KEY_UNAVAILABLE' });
        assert.equal((await reopened.getKey('log-1', 'log')).purpose, 'log');
      } finally {
        await reopened.close();
      }
    });

    it('throws NOT_FOUND for a key that is not on the token', async () => {
      await assert.rejects(backend.getKey('absent', 'log'), { code: 'NOT_FOUND' });
    });

    it('lists the keys by id with purposes and public keys', async () => {
      const keys = await backend.listKeys();
      assert.deepEqual(
        keys.map((key) => [key.id, key.purpose]),
        [
          ['log-1', 'log'],
          ['tsa-1', 'tsa'],
        ],
      );
      assert.deepEqual(
        keys[0]?.publicKeySpki,
        (await backend.getKey('log-1', 'log')).publicKeySpki,
      );
    });

    it('reports health', async () => {
      assert.deepEqual(await backend.health(), { ok: true });
    });
  });

  describe('keys the backend did not make', () => {
    it('never returns a signature from a private key that does not match its public key', async () => {
      const slot = findSlotByLabel(lib, audit.label);
      // Two pairs with crossed ids: private "mixed-1" belongs to public "spare-1" and vice versa.
      plantKeyPair(lib, slot, audit.pin, {
        publicId: 'spare-1',
        privateId: 'mixed-1',
        label: 'countersign:log:mixed-1',
        extractable: false,
      });
      plantKeyPair(lib, slot, audit.pin, {
        publicId: 'mixed-1',
        privateId: 'spare-1',
        label: 'spare',
        extractable: false,
      });
      const auditBackend = await openPkcs11Backend({
        module: hsm.module,
        tokenLabel: audit.label,
        pin: audit.pin,
        retryDelayMs: 0,
      });
      try {
        await assert.rejects(auditBackend.getKey('mixed-1', 'log'), {
          code: 'KEY_UNAVAILABLE',
          message: /does not verify/,
        });
      } finally {
        await auditBackend.close();
      }
    });

    it('refuses to open next to an extractable key, naming it', async () => {
      plantKeyPair(lib, findSlotByLabel(lib, audit.label), audit.pin, {
        publicId: 'exportable-1',
        privateId: 'exportable-1',
        label: 'countersign:channel-ca:exportable-1',
        extractable: true,
      });
      await assert.rejects(
        createKeyBackend({
          kind: 'pkcs11',
          module: hsm.module,
          tokenLabel: audit.label,
          pin: audit.pin,
        }),
        { code: 'KEY_UNAVAILABLE', message: /exportable-1 .* is or was extractable/ },
      );
    });
  });

  describe('configuration', () => {
    it('throws CONFIG_INVALID for missing fields and for a module that is not PKCS#11', async () => {
      await assert.rejects(openPkcs11Backend({ module: hsm.module, pin: main.pin }), {
        code: 'CONFIG_INVALID',
      });
      await assert.rejects(
        openPkcs11Backend({ module: hsm.module, tokenLabel: main.label, pin: '' }),
        {
          code: 'CONFIG_INVALID',
        },
      );
      await assert.rejects(
        openPkcs11Backend({ module: '/nonexistent/libpkcs11.so', tokenLabel: 'x', pin: '1' }),
        {
          code: 'CONFIG_INVALID',
        },
      );
    });

    it('throws KEY_UNAVAILABLE for a token that is not there', async () => {
      await assert.rejects(
        openPkcs11Backend({
          module: hsm.module,
          tokenLabel: 'no-such-token',
          pin: main.pin,
          retryDelayMs: 0,
        }),
        { code: 'KEY_UNAVAILABLE', message: /not present/ },
      );
    });

    it('finds the token by slot id too', async () => {
      const bySlot = await createKeyBackend({
        kind: 'pkcs11',
        module: hsm.module,
        slot: main.slot,
        pin: main.pin,
      });
      try {
        assert.equal(bySlot.kind, 'pkcs11');
        assert.equal((await bySlot.getKey('log-1', 'log')).id, 'log-1');
      } finally {
        await bySlot.close();
      }
    });
  });
});
