import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { AppError } from '../errors.ts';
import { createTestSigstore } from '../../../test/support/sigstore-fixtures.ts';
import {
  TRUSTED_ROOT_MEDIA_TYPE,
  createTransparencyLogInstance,
  encodeTrustedRoot,
  extractTrustedRootFromTufSeeds,
  isWithinTimeRange,
  parseTrustedRoot,
  parseTrustedRootJson,
  serializeTrustedRoot,
} from './trusted-root.ts';

type Json = Record<string, unknown>;

const sigstore = createTestSigstore();
const encoded = encodeTrustedRoot(sigstore.trustedRoot);

function edit(change: (copy: Json) => void): Json {
  const copy = structuredClone(encoded);
  change(copy);
  return copy;
}

function firstLog(json: Json): Json {
  return (json['tlogs'] as Json[])[0] as Json;
}

function assertInvalid(value: unknown, pattern: RegExp): void {
  assert.throws(
    () => parseTrustedRoot(value),
    (error: unknown) => {
      assert.ok(error instanceof AppError);
      assert.equal(error.code, 'INVALID_INPUT');
      assert.match(error.message, pattern);
      return true;
    },
  );
}

describe('encodeTrustedRoot', () => {
  it('writes the v0.1 media type and only fields every client accepts (G9–G12)', () => {
    assert.equal(encoded['mediaType'], TRUSTED_ROOT_MEDIA_TYPE);
    assert.deepEqual(Object.keys(encoded), [
      'mediaType',
      'tlogs',
      'certificateAuthorities',
      'ctlogs',
      'timestampAuthorities',
    ]);
    assert.deepEqual(encoded['ctlogs'], []);
    const log = firstLog(encoded);
    assert.deepEqual(Object.keys(log), ['baseUrl', 'hashAlgorithm', 'publicKey', 'logId']);
    assert.equal(log['hashAlgorithm'], 'SHA2_256');
    const key = log['publicKey'] as Json;
    assert.equal(key['keyDetails'], 'PKIX_ECDSA_P256_SHA_256');
    assert.match((key['validFor'] as Json)['start'] as string, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });

  it('uses SHA-256 of the log key SPKI as the log id', () => {
    const log = firstLog(encoded);
    const spki = Buffer.from((log['publicKey'] as Json)['rawBytes'] as string, 'base64');
    assert.equal(
      (log['logId'] as Json)['keyId'],
      createHash('sha256').update(spki).digest('base64'),
    );
  });

  it('serializes to one compact line ending in a newline (cosign and gh JSONL alike)', () => {
    const text = serializeTrustedRoot(sigstore.trustedRoot);
    assert.ok(text.endsWith('}\n'));
    assert.equal(text.split('\n').length, 2);
  });

  it('round-trips through parseTrustedRoot', () => {
    assert.deepEqual(
      encodeTrustedRoot(parseTrustedRootJson(serializeTrustedRoot(sigstore.trustedRoot))),
      encoded,
    );
  });
});

describe('createTransparencyLogInstance', () => {
  it('describes an Ed25519 key as PKIX_ED25519', () => {
    const { publicKey } = generateKeyPairSync('ed25519');
    const log = createTransparencyLogInstance({
      baseUrl: 'https://log.example.com',
      publicKeySpki: new Uint8Array(publicKey.export({ format: 'der', type: 'spki' })),
      validFor: { start: new Date(0) },
    });
    assert.equal(log.publicKey.keyDetails, 'PKIX_ED25519');
  });

  it('refuses an RSA key', () => {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    assert.throws(
      () =>
        createTransparencyLogInstance({
          baseUrl: 'https://log.example.com',
          publicKeySpki: new Uint8Array(publicKey.export({ format: 'der', type: 'spki' })),
          validFor: { start: new Date(0) },
        }),
      { code: 'INVALID_INPUT' },
    );
  });
});

describe('parseTrustedRoot', () => {
  it('rejects another media type', () => {
    assertInvalid(
      edit((r) => (r['mediaType'] = 'application/vnd.dev.sigstore.trustedroot.v0.2+json')),
      /\/mediaType/,
    );
  });

  it('rejects unknown fields', () => {
    assertInvalid(
      edit((r) => (firstLog(r)['extra'] = true)),
      /\/tlogs\/0\/extra is not a known field/,
    );
  });

  it('reads the known fields it never writes (checkpointKeyId, operator)', () => {
    const root = parseTrustedRoot(
      edit((r) => {
        firstLog(r)['checkpointKeyId'] = { keyId: (firstLog(r)['logId'] as Json)['keyId'] };
        firstLog(r)['operator'] = 'example.com';
      }),
    );
    assert.equal(root.tlogs.length, 1);
  });

  it('rejects a log key without validFor.start (sigstore-go does)', () => {
    assertInvalid(
      edit((r) => delete ((firstLog(r)['publicKey'] as Json)['validFor'] as Json)['start']),
      /\/tlogs\/0\/publicKey\/validFor\/start is required/,
    );
  });

  it('reads nanosecond and null timestamps as proto3 JSON allows', () => {
    const root = parseTrustedRoot(
      edit((r) => {
        const validFor = (firstLog(r)['publicKey'] as Json)['validFor'] as Json;
        validFor['start'] = '2021-01-12T11:53:27.123456789Z';
        validFor['end'] = null;
      }),
    );
    assert.equal(root.tlogs[0]?.publicKey.validFor.start.toISOString(), '2021-01-12T11:53:27.123Z');
    assert.equal(root.tlogs[0]?.publicKey.validFor.end, undefined);
  });

  it('rejects a timestamp that is not UTC RFC 3339', () => {
    assertInvalid(
      edit(
        (r) =>
          (((firstLog(r)['publicKey'] as Json)['validFor'] as Json)['start'] =
            '2021-01-12T11:53:27+01:00'),
      ),
      /validFor\/start must be an RFC 3339 timestamp/,
    );
    assertInvalid(
      edit(
        (r) =>
          (((firstLog(r)['publicKey'] as Json)['validFor'] as Json)['start'] =
            '2021-02-30T00:00:00Z'),
      ),
      /not a valid date/,
    );
  });

  it('rejects a validity that ends before it starts', () => {
    assertInvalid(
      edit(
        (r) =>
          (((firstLog(r)['publicKey'] as Json)['validFor'] as Json)['end'] =
            '2000-01-01T00:00:00Z'),
      ),
      /ends before it starts/,
    );
  });

  it('rejects a key that is not a public key of its stated encoding', () => {
    assertInvalid(
      edit((r) => ((firstLog(r)['publicKey'] as Json)['rawBytes'] = 'AAAA')),
      /rawBytes is not a PKIX public key/,
    );
  });

  it('reads a PKCS#1 RSA CT log key', () => {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const root = parseTrustedRoot(
      edit((r) => {
        const log = structuredClone(firstLog(r));
        const key = log['publicKey'] as Json;
        key['rawBytes'] = publicKey.export({ format: 'der', type: 'pkcs1' }).toString('base64');
        key['keyDetails'] = 'PKCS1_RSA_PKCS1V5';
        r['ctlogs'] = [log];
      }),
    );
    assert.equal(root.ctlogs[0]?.publicKey.keyDetails, 'PKCS1_RSA_PKCS1V5');
  });

  it('rejects a certificate authority without certificates', () => {
    assertInvalid(
      edit((r) => {
        ((r['certificateAuthorities'] as Json[])[0] as Json)['certChain'] = { certificates: [] };
      }),
      /certChain\/certificates must not be empty/,
    );
  });

  it('rejects a base URL that is not http(s)', () => {
    assertInvalid(
      edit((r) => (firstLog(r)['baseUrl'] = 'ftp://log.example.com')),
      /baseUrl must be an http\(s\) URL/,
    );
  });
});

describe('extractTrustedRootFromTufSeeds', () => {
  it("reads the Sigstore public-good root from @sigstore/tuf's seeds.json", () => {
    const seeds = JSON.parse(
      readFileSync(createRequire(import.meta.url).resolve('@sigstore/tuf/seeds.json'), 'utf8'),
    ) as unknown;
    const root = extractTrustedRootFromTufSeeds(seeds);
    assert.ok(root.tlogs.some((log) => log.baseUrl === 'https://rekor.sigstore.dev'));
    assert.ok(root.certificateAuthorities.length > 0);
    assert.ok(root.timestampAuthorities.length > 0);
  });

  it('rejects seeds without a trusted_root.json target', () => {
    assert.throws(
      () => extractTrustedRootFromTufSeeds({ 'https://tuf.example.com': { targets: {} } }),
      {
        code: 'INVALID_INPUT',
      },
    );
    assert.throws(() => extractTrustedRootFromTufSeeds({ a: {}, b: {} }), {
      code: 'INVALID_INPUT',
    });
  });
});

describe('isWithinTimeRange', () => {
  it('treats both bounds as inclusive and absent bounds as open', () => {
    const start = new Date('2026-01-01T00:00:00Z');
    const end = new Date('2026-02-01T00:00:00Z');
    assert.equal(isWithinTimeRange({ start, end }, start), true);
    assert.equal(isWithinTimeRange({ start, end }, end), true);
    assert.equal(isWithinTimeRange({ start, end }, new Date(end.getTime() + 1)), false);
    assert.equal(isWithinTimeRange({ start }, new Date(start.getTime() - 1)), false);
    assert.equal(isWithinTimeRange(undefined, start), true);
  });
});
