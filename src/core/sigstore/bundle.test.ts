import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AppError } from '../errors.ts';
import {
  buildDsseBundle,
  buildMessageSignatureBundle,
  buildPublicKeyBundle,
  createTestSigstore,
  generateTestKey,
} from '../../../test/support/sigstore-fixtures.ts';
import {
  BUNDLE_V03_MEDIA_TYPE,
  encodeBundle,
  parseBundle,
  parseBundleJson,
  serializeBundle,
  type Bundle,
} from './bundle.ts';

const sigstore = createTestSigstore();
const leaf = sigstore.issueLeaf();
const ARTIFACT = new TextEncoder().encode('artifact');
const messageBundle = buildMessageSignatureBundle(sigstore, ARTIFACT, { leaf });
const messageJson = encodeBundle(messageBundle);

type Json = Record<string, unknown>;

function edit(change: (copy: Json) => void, source: Json = messageJson): Json {
  const copy = structuredClone(source);
  change(copy);
  return copy;
}

function material(json: Json): Json {
  return json['verificationMaterial'] as Json;
}

function firstEntry(json: Json): Json {
  return (material(json)['tlogEntries'] as Json[])[0] as Json;
}

function assertInvalid(value: unknown, pointer: RegExp): void {
  assert.throws(
    () => parseBundle(value),
    (error: unknown) => {
      assert.ok(error instanceof AppError);
      assert.equal(error.code, 'INVALID_INPUT');
      assert.match(error.message, pointer);
      return true;
    },
  );
}

describe('encodeBundle', () => {
  it('writes proto3 JSON: v0.3 media type, int64 as strings, bytes as padded base64', () => {
    assert.equal(messageJson['mediaType'], BUNDLE_V03_MEDIA_TYPE);
    const entry = firstEntry(messageJson);
    assert.equal(typeof entry['logIndex'], 'string');
    assert.equal(typeof entry['integratedTime'], 'string');
    assert.match(entry['canonicalizedBody'] as string, /^[A-Za-z0-9+/]+={0,2}$/);
    assert.deepEqual(Object.keys(material(messageJson)), [
      'certificate',
      'tlogEntries',
      'timestampVerificationData',
    ]);
    const digest = (messageJson['messageSignature'] as Json)['messageDigest'] as Json;
    assert.equal(digest['algorithm'], 'SHA2_256');
  });

  it('round-trips through parseBundle', () => {
    const parsed = parseBundle(messageJson);
    assert.deepEqual(encodeBundle(parsed), messageJson);
    const dsse = buildDsseBundle(sigstore, new TextEncoder().encode('{}'), {
      leaf,
      timestamp: false,
    });
    assert.deepEqual(encodeBundle(parseBundleJson(serializeBundle(dsse))), encodeBundle(dsse));
  });

  it('writes a public key hint for managed-key bundles', () => {
    const json = encodeBundle(buildPublicKeyBundle(sigstore, ARTIFACT, generateTestKey()));
    assert.deepEqual(Object.keys(material(json)['publicKey'] as Json), ['hint']);
  });

  it('refuses to write the certificate chain form', () => {
    const chain: Bundle = {
      ...messageBundle,
      verificationMaterial: {
        ...messageBundle.verificationMaterial,
        content: { type: 'x509CertificateChain', certificates: [leaf.der] },
      },
    };
    assert.throws(() => encodeBundle(chain), { code: 'INVALID_INPUT' });
  });

  it('refuses to write anything but v0.3', () => {
    assert.throws(() => encodeBundle({ ...messageBundle, version: '0.2' }), {
      code: 'INVALID_INPUT',
    });
  });
});

describe('parseBundle', () => {
  describe('media types', () => {
    for (const mediaType of [
      'application/vnd.dev.sigstore.bundle+json;version=0.1',
      'application/vnd.dev.sigstore.bundle+json;version=0.2',
      'application/vnd.dev.sigstore.bundle+json;version=0.3',
      BUNDLE_V03_MEDIA_TYPE,
    ]) {
      it(`reads ${mediaType}`, () => {
        const json = edit((b) => {
          b['mediaType'] = mediaType;
          if (!mediaType.endsWith('0.3') && !mediaType.includes('v0.3')) {
            const m = material(b);
            m['x509CertificateChain'] = { certificates: [m['certificate']] };
            delete m['certificate'];
          }
        });
        assert.equal(parseBundle(json).mediaType, mediaType);
      });
    }

    it('rejects an unknown version', () => {
      assertInvalid(
        edit((b) => (b['mediaType'] = 'application/vnd.dev.sigstore.bundle.v0.4+json')),
        /\/mediaType/,
      );
    });
  });

  describe('strictness', () => {
    it('rejects an unknown field anywhere', () => {
      assertInvalid(
        edit((b) => (b['extra'] = 1)),
        /\/extra is not a known field/,
      );
      assertInvalid(
        edit((b) => (firstEntry(b)['extra'] = 1)),
        /tlogEntries\/0\/extra/,
      );
    });

    it('rejects non-canonical base64', () => {
      assertInvalid(
        edit((b) => ((b['messageSignature'] as Json)['signature'] = 'not*base64')),
        /messageSignature\/signature is not standard padded base64/,
      );
      assertInvalid(
        edit((b) => {
          const digest = (b['messageSignature'] as Json)['messageDigest'] as Json;
          digest['digest'] = (digest['digest'] as string).replace(/=+$/, '');
        }),
        /messageDigest\/digest is not standard padded base64/,
      );
    });

    it('accepts line breaks inside base64, as Go decoders do', () => {
      const json = edit((b) => {
        const m = material(b);
        const certificate = m['certificate'] as Json;
        certificate['rawBytes'] = (certificate['rawBytes'] as string).replace(/.{76}/g, '$&\n');
      });
      const parsed = parseBundle(json);
      assert.equal(parsed.verificationMaterial.content.type, 'certificate');
    });

    it('rejects a negative or non-integer log index', () => {
      assertInvalid(
        edit((b) => (firstEntry(b)['logIndex'] = '-1')),
        /logIndex must not be negative/,
      );
      assertInvalid(
        edit((b) => (firstEntry(b)['logIndex'] = '1.5')),
        /logIndex/,
      );
      assertInvalid(
        edit((b) => (firstEntry(b)['logIndex'] = '01')),
        /logIndex/,
      );
    });

    it('reads int64 given as a JSON number and null as absent', () => {
      const parsed = parseBundle(
        edit((b) => {
          firstEntry(b)['logIndex'] = 6;
          material(b)['publicKey'] = null;
        }),
      );
      assert.equal(parsed.verificationMaterial.tlogEntries[0]?.logIndex, 6n);
    });

    it('rejects a log id that is not 32 bytes', () => {
      assertInvalid(
        edit((b) => ((firstEntry(b)['logId'] as Json)['keyId'] = 'AAAA')),
        /logId\/keyId must be 32 bytes/,
      );
    });

    it('rejects a digest of the wrong length for its algorithm', () => {
      assertInvalid(
        edit(
          (b) =>
            (((b['messageSignature'] as Json)['messageDigest'] as Json)['algorithm'] = 'SHA2_384'),
        ),
        /messageDigest\/digest is not a sha384 digest/,
      );
    });
  });

  describe('content', () => {
    it('rejects both a message signature and a DSSE envelope', () => {
      const dsse = encodeBundle(
        buildDsseBundle(sigstore, new TextEncoder().encode('{}'), { leaf, timestamp: false }),
      );
      assertInvalid(
        edit((b) => (b['dsseEnvelope'] = dsse['dsseEnvelope'])),
        /exactly one of messageSignature and dsseEnvelope/,
      );
    });

    it('rejects neither', () => {
      assertInvalid(
        edit((b) => delete b['messageSignature']),
        /exactly one of messageSignature and dsseEnvelope/,
      );
    });

    it('rejects a DSSE envelope with two signatures', () => {
      const dsse = encodeBundle(
        buildDsseBundle(sigstore, new TextEncoder().encode('{}'), { leaf, timestamp: false }),
      );
      const json = edit((b) => {
        const envelope = b['dsseEnvelope'] as Json;
        const signatures = envelope['signatures'] as Json[];
        envelope['signatures'] = [signatures[0], signatures[0]];
      }, dsse);
      assertInvalid(json, /signatures must hold exactly one signature/);
    });
  });

  describe('verification material', () => {
    it('rejects the certificate chain form in a v0.3 bundle', () => {
      const json = edit((b) => {
        const m = material(b);
        m['x509CertificateChain'] = { certificates: [m['certificate']] };
        delete m['certificate'];
      });
      assertInvalid(json, /x509CertificateChain is not allowed in a v0.3 bundle/);
    });

    it('rejects two forms at once', () => {
      assertInvalid(
        edit((b) => (material(b)['publicKey'] = { hint: 'x' })),
        /exactly one of certificate/,
      );
    });

    it('rejects an empty certificate chain', () => {
      const json = edit((b) => {
        b['mediaType'] = 'application/vnd.dev.sigstore.bundle+json;version=0.2';
        const m = material(b);
        m['x509CertificateChain'] = { certificates: [] };
        delete m['certificate'];
      });
      assertInvalid(json, /certificates must not be empty/);
    });
  });

  describe('per-version log entry rules', () => {
    it('requires an inclusion proof with a checkpoint from v0.2 on', () => {
      assertInvalid(
        edit((b) => delete firstEntry(b)['inclusionProof']),
        /inclusionProof is required in a v0.3 bundle/,
      );
      assertInvalid(
        edit((b) => delete (firstEntry(b)['inclusionProof'] as Json)['checkpoint']),
        /checkpoint is required/,
      );
    });

    it('requires an inclusion promise in v0.1 and lets its proof lack a checkpoint', () => {
      const v01 = (change: (b: Json) => void) =>
        edit((b) => {
          b['mediaType'] = 'application/vnd.dev.sigstore.bundle+json;version=0.1';
          const m = material(b);
          m['x509CertificateChain'] = { certificates: [m['certificate']] };
          delete m['certificate'];
          change(b);
        });
      assertInvalid(
        v01((b) => delete firstEntry(b)['inclusionPromise']),
        /inclusionPromise is required in a v0.1 bundle/,
      );
      const parsed = parseBundle(
        v01((b) => delete (firstEntry(b)['inclusionProof'] as Json)['checkpoint']),
      );
      assert.equal(
        parsed.verificationMaterial.tlogEntries[0]?.inclusionProof?.checkpoint,
        undefined,
      );
    });
  });

  describe('parseBundleJson', () => {
    it('rejects text that is not JSON with INVALID_INPUT', () => {
      assert.throws(() => parseBundleJson('{"mediaType":'), { code: 'INVALID_INPUT' });
    });
  });
});
