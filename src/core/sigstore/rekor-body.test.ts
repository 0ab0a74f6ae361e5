import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { AppError } from '../errors.ts';
import { requireSharedData, sharedPath } from '../../../test/support/shared-data.ts';
import { createDsseBody, createHashedRekordBody, parseRekorBody } from './rekor-body.ts';

const DIGEST = new Uint8Array(32).fill(1);
const SIGNATURE = Uint8Array.of(0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01);
const CERTIFICATE = Uint8Array.of(1, 2, 3);
const PEM_B64 = Buffer.from(
  '-----BEGIN CERTIFICATE-----\nAQID\n-----END CERTIFICATE-----\n',
).toString('base64');

function text(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes);
}

function body(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value));
}

describe('createHashedRekordBody', () => {
  it('writes the canonical hashedrekord/0.0.1 body with the verifier as base64 PEM', () => {
    const created = createHashedRekordBody({
      digest: { algorithm: 'sha256', value: DIGEST },
      signature: SIGNATURE,
      verifier: { type: 'certificate', der: CERTIFICATE },
    });
    assert.equal(
      text(created),
      `{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{"data":{"hash":{"algorithm":"sha256","value":"${'01'.repeat(32)}"}},` +
        `"signature":{"content":"${Buffer.from(SIGNATURE).toString('base64')}","publicKey":{"content":"${PEM_B64}"}}}}`,
    );
  });

  it('rejects a digest of the wrong length', () => {
    assert.throws(
      () =>
        createHashedRekordBody({
          digest: { algorithm: 'sha384', value: DIGEST },
          signature: SIGNATURE,
          verifier: { type: 'certificate', der: CERTIFICATE },
        }),
      { code: 'INVALID_INPUT' },
    );
  });
});

describe('createDsseBody', () => {
  it('writes the canonical dsse/0.0.1 body with payload and envelope hashes', () => {
    const payload = new TextEncoder().encode('{"_type":"x"}');
    const created = createDsseBody({
      envelope: {
        payload,
        payloadType: 'application/vnd.in-toto+json',
        signatures: [{ sig: SIGNATURE, keyid: '' }],
      },
      verifier: { type: 'certificate', der: CERTIFICATE },
    });
    const envelopeJson = `{"payload":"${Buffer.from(payload).toString('base64')}","payloadType":"application/vnd.in-toto+json","signatures":[{"keyid":"","sig":"${Buffer.from(SIGNATURE).toString('base64')}"}]}`;
    const sha = (data: string | Uint8Array) => createHash('sha256').update(data).digest('hex');
    assert.equal(
      text(created),
      `{"apiVersion":"0.0.1","kind":"dsse","spec":{"envelopeHash":{"algorithm":"sha256","value":"${sha(envelopeJson)}"},` +
        `"payloadHash":{"algorithm":"sha256","value":"${sha(payload)}"},` +
        `"signatures":[{"signature":"${Buffer.from(SIGNATURE).toString('base64')}","verifier":"${PEM_B64}"}]}}`,
    );
  });
});

describe('parseRekorBody', () => {
  it('reads back what createHashedRekordBody writes', () => {
    const parsed = parseRekorBody(
      createHashedRekordBody({
        digest: { algorithm: 'sha256', value: DIGEST },
        signature: SIGNATURE,
        verifier: { type: 'publicKey', spki: CERTIFICATE },
      }),
    );
    assert.deepEqual(parsed, {
      kind: 'hashedrekord',
      version: '0.0.1',
      digest: { algorithm: 'sha256', value: DIGEST },
      signature: SIGNATURE,
      verifier: { type: 'publicKey', spki: CERTIFICATE },
    });
  });

  it('reads a Rekor v2 hashedrekord/0.0.2 body', () => {
    const parsed = parseRekorBody(
      body({
        apiVersion: '0.0.2',
        kind: 'hashedrekord',
        spec: {
          hashedRekordV002: {
            data: { algorithm: 'SHA2_256', digest: Buffer.from(DIGEST).toString('base64') },
            signature: {
              content: Buffer.from(SIGNATURE).toString('base64'),
              verifier: {
                keyDetails: 'PKIX_ECDSA_P256_SHA_256',
                x509Certificate: { rawBytes: 'AQID' },
              },
            },
          },
        },
      }),
    );
    assert.equal(parsed.kind === 'hashedrekord' && parsed.version, '0.0.2');
    assert.deepEqual(parsed.kind === 'hashedrekord' && parsed.verifier, {
      type: 'certificate',
      der: CERTIFICATE,
    });
  });

  it('reads an intoto/0.0.2 body, whose signature is base64 twice', () => {
    const sig = Buffer.from(Buffer.from(SIGNATURE).toString('base64')).toString('base64');
    const parsed = parseRekorBody(
      body({
        apiVersion: '0.0.2',
        kind: 'intoto',
        spec: {
          content: {
            envelope: { payloadType: 'x', signatures: [{ sig, publicKey: PEM_B64 }] },
            payloadHash: { algorithm: 'sha256', value: '01'.repeat(32) },
          },
        },
      }),
    );
    assert.ok(parsed.kind === 'intoto');
    assert.deepEqual(parsed.signatures[0]?.signature, SIGNATURE);
  });

  for (const [name, value, pattern] of [
    [
      'an unsupported kind',
      { apiVersion: '0.0.1', kind: 'rekord', spec: {} },
      /unsupported log entry kind rekord\/0.0.1/,
    ],
    [
      'uppercase hex',
      {
        apiVersion: '0.0.1',
        kind: 'hashedrekord',
        spec: { data: { hash: { algorithm: 'sha256', value: 'AB'.repeat(32) } } },
      },
      /lowercase hex/,
    ],
    [
      'a SHA-1 digest',
      {
        apiVersion: '0.0.1',
        kind: 'hashedrekord',
        spec: { data: { hash: { algorithm: 'sha1', value: 'ab'.repeat(20) } } },
      },
      /sha256, sha384 or sha512/,
    ],
  ] as const) {
    it(`rejects ${name}`, () => {
      assert.throws(
        () => parseRekorBody(body(value)),
        (error: unknown) =>
          error instanceof AppError &&
          error.code === 'INVALID_INPUT' &&
          pattern.test(error.message),
      );
    });
  }

  it('rejects bytes that are not JSON', () => {
    assert.throws(() => parseRekorBody(Uint8Array.of(0xff, 0xfe)), { code: 'INVALID_INPUT' });
  });
});

describe('hashedrekord bodies logged by the public-good Rekor', () => {
  const cases = sharedPath('conformance', 'sigstore', 'bundle-verify');
  if (!requireSharedData(cases, 'sigstore-conformance bundle-verify cases')) return;
  for (const name of ['happy-path-v0.1', 'happy-path-v0.3', 'managed-key-happy-path']) {
    it(`rebuild byte for byte from their parsed fields (${name})`, () => {
      const file = `${cases}/${name}/bundle.sigstore.json`;
      assert.ok(existsSync(file));
      const bundle = JSON.parse(readFileSync(file, 'utf8')) as {
        verificationMaterial: { tlogEntries: { canonicalizedBody: string }[] };
      };
      const original = Buffer.from(
        bundle.verificationMaterial.tlogEntries[0]?.canonicalizedBody ?? '',
        'base64',
      );
      const parsed = parseRekorBody(original);
      assert.ok(parsed.kind === 'hashedrekord');
      const rebuilt = createHashedRekordBody(parsed);
      assert.ok(Buffer.from(rebuilt).equals(original));
    });
  }
});
