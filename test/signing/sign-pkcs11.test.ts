/**
 * Signing with every service key in an HSM (issue "Sign and verify" acceptance): the root, the
 * channel CA, the TSA and the log key are generated on a SoftHSM2 token; bundles verify with our
 * verifier and sigstore-js; a token removed mid-run fails closed (no bundle, not ready) and the
 * service signs again once it is back, without a restart.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { bundleFromJSON } from '@sigstore/bundle';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { toSignedEntity, toTrustMaterial, Verifier } from '@sigstore/verify';
import { createKeyBackend } from '../../src/adapters/keys/create-key-backend.ts';
import { composeService, type ComposedService } from '../../src/compose.ts';
import type { KeyBackend } from '../../src/core/ports.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import { parseBundle } from '../../src/core/sigstore/bundle.ts';
import { parseTrustedRoot } from '../../src/core/sigstore/trusted-root.ts';
import { verifyBundle } from '../../src/core/verify/verify-bundle.ts';
import { runInProcess } from '../cli/cli-harness.ts';
import { requireComponentForSuite } from '../support/components.ts';
import {
  createSoftHsm,
  findSoftHsmModule,
  SOFTHSM_MISSING_REASON,
  type SoftHsm,
  type SoftHsmToken,
} from '../support/softhsm.ts';

describe('signing with every key on a PKCS#11 token (SoftHSM2)', () => {
  if (
    !requireComponentForSuite('SoftHSM2', findSoftHsmModule() !== undefined, SOFTHSM_MISSING_REASON)
  )
    return;

  let hsm: SoftHsm;
  let token: SoftHsmToken;
  let dataDir: string;
  let service: ComposedService;
  let keys: KeyBackend;

  before(async () => {
    hsm = createSoftHsm();
    hsm.useInThisProcess();
    token = hsm.initToken('countersign');
    dataDir = await mkdtemp(join(tmpdir(), 'countersign-pkcs11-'));
    // The service's own backend, without the pause it normally takes before retrying a lost
    // token, so the test needs no waiting.
    keys = await createKeyBackend({
      kind: 'pkcs11',
      module: hsm.module,
      tokenLabel: token.label,
      pin: token.pin,
      retryDelayMs: 0,
    });
    service = await composeService(
      loadConfig({
        env: {},
        argv: ['--demo', '--port', '0', '--data-dir', dataDir, '--log-level', 'silent'],
        cwd: dataDir,
      }),
      { migrate: true },
      { keys },
    );
  });
  after(async () => {
    await service.close();
    await keys.close();
    await rm(dataDir, { recursive: true, force: true });
    hsm.cleanup();
  });

  const sign = async (content: string) => {
    const dev = await runInProcess(['dev', 'token', '--data-dir', dataDir]);
    assert.equal(dev.code, 0, dev.stderr);
    const digest = createHash('sha256').update(content).digest('hex');
    return service.server.inject({
      method: 'POST',
      url: '/v1/sign',
      headers: { authorization: `Bearer ${dev.stdout.trim()}` },
      payload: {
        product: 'demo',
        channel: 'dev',
        subject: { name: 'f', digest: { algorithm: 'sha256', value: digest } },
        kind: 'artifact',
      },
    });
  };

  it('keeps the service keys on the token, not in files', async () => {
    const keys = await service.keys.listKeys();
    assert.equal(service.keys.kind, 'pkcs11');
    // One CA per demo channel (dev, staging), the root, the log and the TSA.
    assert.deepEqual(keys.map((k) => k.purpose).sort(), [
      'channel-ca',
      'channel-ca',
      'log',
      'root-ca',
      'tsa',
    ]);
  });

  it('signs bundles that our verifier and sigstore-js accept', async () => {
    const response = await sign('hsm artifact');
    assert.equal(response.statusCode, 201, response.body);
    const { bundle } = JSON.parse(response.body) as { bundle: unknown };
    const rootResponse = await service.server.inject({
      method: 'GET',
      url: '/v1/trust/trusted-root.json',
    });
    const rootJson: unknown = JSON.parse(rootResponse.body);
    verifyBundle({
      bundle: parseBundle(bundle),
      artifact: { bytes: Buffer.from('hsm artifact') },
      trustedRoot: parseTrustedRoot(rootJson),
    });
    const verifier = new Verifier(toTrustMaterial(TrustedRoot.fromJSON(rootJson)), {
      ctlogThreshold: 0,
    });
    verifier.verify(toSignedEntity(bundleFromJSON(bundle), Buffer.from('hsm artifact')));
  });

  it('fails closed while the token is gone and recovers when it is back', async () => {
    const putBack = hsm.removeToken(token);
    try {
      const refused = await sign('while removed');
      assert.equal(refused.statusCode, 503, refused.body);
      assert.doesNotMatch(refused.body, /"bundle"/);
      const ready = await service.server.inject({ method: 'GET', url: '/readyz' });
      assert.equal(ready.statusCode, 503);
      assert.match(ready.body, /keys/);
    } finally {
      putBack();
    }
    const response = await sign('after the token is back');
    assert.equal(response.statusCode, 201, response.body);
    const ready = await service.server.inject({ method: 'GET', url: '/readyz' });
    assert.equal(ready.statusCode, 200, ready.body);
  });
});
