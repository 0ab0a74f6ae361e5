/**
 * Threat model FT-5 on a real SoftHSM2 token: the token removed while the backend runs, sessions
 * and the module reset under it, and PINs that are wrong or changed. Expected every time: no
 * signature while the fault lasts (KEY_UNAVAILABLE), recovery without a restart once it is gone,
 * and never a second try of a refused PIN.
 */
import assert from 'node:assert/strict';
import { createPublicKey, verify } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pkcs11js from 'pkcs11js';
import type { PKCS11 } from 'pkcs11js';
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
  initialisePkcs11,
  loadPkcs11ForTest,
  SOFTHSM_MISSING_REASON,
  type SoftHsm,
  type SoftHsmToken,
} from '../support/softhsm.ts';

const MESSAGE = new TextEncoder().encode('a log checkpoint');

function assertVerifies(handle: KeyHandle, signature: Uint8Array): void {
  const key = createPublicKey({
    key: Buffer.from(handle.publicKeySpki),
    format: 'der',
    type: 'spki',
  });
  assert.equal(verify('sha256', MESSAGE, { key, dsaEncoding: 'der' }, signature), true);
}

/** Logs in to `label` from the test side with `pin`, runs `work`, and closes the session. */
function withUserSession(
  lib: PKCS11,
  label: string,
  pin: string,
  work: (session: Buffer) => void,
): void {
  const session = lib.C_OpenSession(
    findSlotByLabel(lib, label),
    pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION,
  );
  try {
    lib.C_Login(session, pkcs11js.CKU_USER, pin);
    work(session);
    lib.C_Logout(session);
  } finally {
    lib.C_CloseSession(session);
  }
}

function isPinLocked(lib: PKCS11, label: string): boolean {
  return (
    (lib.C_GetTokenInfo(findSlotByLabel(lib, label)).flags & pkcs11js.CKF_USER_PIN_LOCKED) !== 0
  );
}

describe('PKCS#11 key backend under HSM faults (FT-5)', () => {
  const module = findSoftHsmModule();
  if (!requireComponentForSuite('SoftHSM2', module !== undefined, SOFTHSM_MISSING_REASON)) return;

  let hsm: SoftHsm;
  let faults: SoftHsmToken;
  let pins: SoftHsmToken;
  let lib: PKCS11;

  before(() => {
    hsm = createSoftHsm();
    faults = hsm.initToken('faults');
    pins = hsm.initToken('pins');
    hsm.useInThisProcess();
    lib = loadPkcs11ForTest(hsm.module);
  });
  after(() => hsm.cleanup());

  describe('with a working backend', () => {
    let backend: Pkcs11KeyBackend;
    let key: KeyHandle;
    before(async () => {
      backend = await openPkcs11Backend({
        module: hsm.module,
        tokenLabel: faults.label,
        pin: faults.pin,
        retryDelayMs: 0,
      });
      key = await backend.createKey('log-1', 'log');
      assertVerifies(key, await key.sign(MESSAGE));
    });
    after(() => backend.close());

    it('recovers from all sessions being closed under it (an HSM session reset)', async () => {
      const { reconnects } = backend.stats();
      lib.C_CloseAllSessions(findSlotByLabel(lib, faults.label));
      assertVerifies(key, await key.sign(MESSAGE));
      assert.equal(backend.stats().reconnects, reconnects + 1);
    });

    it('recovers from the module being finalised under it, re-finding the key handle', async () => {
      const { reinitialisations } = backend.stats();
      lib.C_Finalize();
      assertVerifies(key, await key.sign(MESSAGE));
      assert.ok(backend.stats().reinitialisations > reinitialisations);
      initialisePkcs11(lib);
    });

    it('fails closed while the token is removed and signs again once it is back, without a restart', async () => {
      const putBack = hsm.removeToken(faults);
      try {
        const results = await Promise.allSettled(
          Array.from({ length: 10 }, () => key.sign(MESSAGE)),
        );
        for (const result of results) {
          assert.equal(result.status, 'rejected', 'a signature was produced without the token');
          assert.equal((result.reason as { code?: unknown }).code, 'KEY_UNAVAILABLE');
        }
        const health = await backend.health();
        assert.equal(health.ok, false);
        assert.match(health.problem ?? '', /not present/);
        await assert.rejects(backend.getKey('log-1', 'log'), { code: 'KEY_UNAVAILABLE' });
      } finally {
        putBack();
      }
      assertVerifies(key, await key.sign(MESSAGE));
      assert.deepEqual(await backend.health(), { ok: true });
    });

    it('does not hammer a missing token: within the retry delay, calls fail without reconnecting', async () => {
      const patient = await openPkcs11Backend({
        module: hsm.module,
        tokenLabel: faults.label,
        pin: faults.pin,
        retryDelayMs: 60_000,
      });
      let putBack = (): void => undefined;
      try {
        const patientKey = await patient.getKey('log-1', 'log');
        putBack = hsm.removeToken(faults);
        await assert.rejects(patientKey.sign(MESSAGE), { code: 'KEY_UNAVAILABLE' });
        const { reconnects } = patient.stats();
        await assert.rejects(patientKey.sign(MESSAGE), { code: 'KEY_UNAVAILABLE' });
        assert.equal((await patient.health()).ok, false);
        assert.equal(patient.stats().reconnects, reconnects);
      } finally {
        putBack();
        await patient.close();
      }
      // The patient backend's failed attempts re-initialised the module; this one recovers anyway.
      assertVerifies(key, await key.sign(MESSAGE));
    });
  });

  describe('when the PIN is wrong', () => {
    it('fails with KEY_UNAVAILABLE after one try, without the PIN in the message, and the token stays usable', async () => {
      const wrongPin = `${pins.pin}0`;
      await assert.rejects(
        openPkcs11Backend({
          module: hsm.module,
          tokenLabel: pins.label,
          pin: wrongPin,
          retryDelayMs: 0,
        }),
        (error: Error & { code?: string }) => {
          assert.equal(error.code, 'KEY_UNAVAILABLE');
          assert.match(
            error.message,
            /refused the PIN \(CKR_PIN_INCORRECT\); it will not be tried again/,
          );
          assert.doesNotMatch(error.message, new RegExp(pins.pin));
          return true;
        },
      );
      initialisePkcs11(lib); // the failed backend finalised the module when it let go of it
      assert.equal(isPinLocked(lib, pins.label), false);
      withUserSession(lib, pins.label, pins.pin, () => undefined);
    });

    it('stops at one login when the PIN changes under a running backend, and never retries it', async () => {
      const backend = await openPkcs11Backend({
        module: hsm.module,
        tokenLabel: pins.label,
        pin: pins.pin,
        retryDelayMs: 0,
      });
      const newPin = `${pins.pin}-rotated`;
      try {
        const key = await backend.createKey('tsa-1', 'tsa');
        assertVerifies(key, await key.sign(MESSAGE));
        const slot = findSlotByLabel(lib, pins.label);
        // The backend is logged in for the whole process, so this session may change the PIN.
        const session = lib.C_OpenSession(
          slot,
          pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION,
        );
        lib.C_SetPIN(session, pins.pin, newPin);
        lib.C_CloseAllSessions(slot); // logs everyone out: the backend must log in again
        const { loginAttempts } = backend.stats();

        await assert.rejects(key.sign(MESSAGE), {
          code: 'KEY_UNAVAILABLE',
          message: /refused the PIN/,
        });
        assert.equal(backend.stats().loginAttempts, loginAttempts + 1);
        for (let i = 0; i < 5; i += 1) {
          await assert.rejects(key.sign(MESSAGE), {
            code: 'KEY_UNAVAILABLE',
            message: /refused the PIN/,
          });
        }
        await assert.rejects(backend.getKey('tsa-1', 'tsa'), { code: 'KEY_UNAVAILABLE' });
        assert.equal((await backend.health()).ok, false);
        assert.equal(backend.stats().loginAttempts, loginAttempts + 1);
      } finally {
        await backend.close();
        initialisePkcs11(lib);
      }
      assert.equal(isPinLocked(lib, pins.label), false);
      withUserSession(lib, pins.label, newPin, (session) =>
        lib.C_SetPIN(session, newPin, pins.pin),
      );
      withUserSession(lib, pins.label, pins.pin, () => undefined);
    });
  });
});
