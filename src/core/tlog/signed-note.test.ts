import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  createHash,
  createPublicKey,
  generateKeyPairSync,
  sign,
  type KeyObject,
} from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  MAX_NOTE_SIGNATURES,
  createNoteSigner,
  createNoteVerifier,
  formatSignedNote,
  noteKeyId,
  parseSignedNote,
  signNote,
  verifySignedNote,
  type NoteSigner,
} from './signed-note.ts';
import { requireSharedData, sharedPath } from '../../../test/support/shared-data.ts';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

function ed25519(name: string) {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const signer = createNoteSigner(name, publicKey, (message) =>
    Promise.resolve(new Uint8Array(sign(null, message, privateKey))),
  );
  return { publicKey, privateKey, signer, verifier: createNoteVerifier(name, publicKey) };
}

function p256(name: string) {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const signer = createNoteSigner(name, publicKey, (message) =>
    Promise.resolve(
      new Uint8Array(sign('sha256', message, { key: privateKey, dsaEncoding: 'der' })),
    ),
  );
  return { publicKey, privateKey, signer, verifier: createNoteVerifier(name, publicKey) };
}

const TEXT = 'example.com/log\n42\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n';
const log = ed25519('example.com/log');
const ecLog = p256('example.com/ec-log');
const witness = ed25519('witness.example/w1');

/**
 * The example of golang.org/x/mod/sumdb/note: verifier key
 * `PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW` (name + key ID + base64 of
 * 0x01 || Ed25519 key) and a note it signed. An implementation nobody here wrote.
 */
const GO_NOTE_KEY = 'ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
const GO_NOTE =
  'If you think cryptography is the answer to your problem,\n' +
  "then you don't know what your problem is.\n" +
  '\n' +
  '\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n';

function goNoteKey(): KeyObject {
  const raw = Buffer.from(GO_NOTE_KEY, 'base64').subarray(1);
  // RFC 8410 SubjectPublicKeyInfo header for Ed25519.
  const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), raw]);
  return createPublicKey({ key: spki, format: 'der', type: 'spki' });
}

describe('noteKeyId', () => {
  describe('for an Ed25519 key', () => {
    it('is SHA-256(name || 0x0A || 0x01 || key)[:4] (signed-note)', () => {
      assert.equal(hex(noteKeyId('PeterNeumann', goNoteKey())), 'c74f20a3');
      const raw = log.publicKey.export({ format: 'der', type: 'spki' }).subarray(12);
      const expected = createHash('sha256')
        .update('example.com/log\n\u0001')
        .update(raw)
        .digest()
        .subarray(0, 4);
      assert.equal(hex(noteKeyId('example.com/log', log.publicKey)), expected.toString('hex'));
    });

    it('changes with the key name', () => {
      assert.notEqual(
        hex(noteKeyId('a.example', log.publicKey)),
        hex(noteKeyId('b.example', log.publicKey)),
      );
    });
  });

  describe('for an ECDSA P-256 key', () => {
    it('is SHA-256(DER SPKI)[:4], as Sigstore computes it, whatever the name', () => {
      const spki = ecLog.publicKey.export({ format: 'der', type: 'spki' });
      const expected = createHash('sha256').update(spki).digest().subarray(0, 4).toString('hex');
      assert.equal(hex(noteKeyId('x.example', ecLog.publicKey)), expected);
      assert.equal(hex(noteKeyId('y.example', new Uint8Array(spki))), expected);
    });
  });

  describe('for another kind of key', () => {
    it('throws INVALID_INPUT', () => {
      const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' });
      assert.throws(() => noteKeyId('x.example', publicKey), { code: 'INVALID_INPUT' });
      assert.throws(() => noteKeyId('x.example', log.privateKey), { code: 'INVALID_INPUT' });
      assert.throws(() => noteKeyId('x.example', new Uint8Array([1, 2, 3])), {
        code: 'INVALID_INPUT',
      });
    });
  });

  describe('for a key name with a space or a plus sign', () => {
    it('throws INVALID_INPUT', () => {
      for (const name of ['', 'a b', 'a+b', 'a\u00a0b', 'a\u3000b']) {
        assert.throws(() => noteKeyId(name, log.publicKey), { code: 'INVALID_INPUT' }, name);
      }
    });
  });
});

describe('verifySignedNote', () => {
  describe('on the golang.org/x/mod/sumdb/note example', () => {
    it('verifies the Ed25519 signature', () => {
      const verified = verifySignedNote(GO_NOTE, [createNoteVerifier('PeterNeumann', goNoteKey())]);
      assert.equal(verified.verified.length, 1);
      assert.match(verified.text, /^If you think/);
    });
  });

  describe('on notes signed by signNote', () => {
    it('round-trips with Ed25519', async () => {
      const note = await signNote(TEXT, [log.signer]);
      const verified = verifySignedNote(note, [log.verifier]);
      assert.equal(verified.text, TEXT);
      assert.deepEqual(
        verified.verified.map((s) => s.name),
        ['example.com/log'],
      );
    });

    it('round-trips with ECDSA P-256 (DER signature over SHA-256 of the text)', async () => {
      const note = await signNote(TEXT, [ecLog.signer]);
      assert.equal(verifySignedNote(note, [ecLog.verifier]).text, TEXT);
      assert.equal(verifySignedNote(new TextEncoder().encode(note), [ecLog.verifier]).text, TEXT);
    });

    it('accepts a trusted signature wherever it appears among unknown ones', async () => {
      const note = await signNote(TEXT, [witness.signer, ecLog.signer, log.signer]);
      const verified = verifySignedNote(note, [log.verifier]);
      assert.deepEqual(
        verified.verified.map((s) => s.name),
        ['example.com/log'],
      );
      assert.equal(verified.signatures.length, 3);
    });

    it('reports every trusted signature that verified', async () => {
      const note = await signNote(TEXT, [log.signer, witness.signer]);
      const verified = verifySignedNote(note, [witness.verifier, log.verifier]);
      assert.equal(verified.verified.length, 2);
    });

    it('keeps blank lines inside the text: only the last blank line separates the signatures', async () => {
      const text = 'first\n\nsecond\n\n';
      const note = await signNote(text, [log.signer]);
      assert.equal(verifySignedNote(note, [log.verifier]).text, text);
    });
  });

  describe('when only an unknown key signed', () => {
    it('throws VERIFICATION_FAILED', async () => {
      const note = await signNote(TEXT, [witness.signer]);
      assert.throws(() => verifySignedNote(note, [log.verifier]), { code: 'VERIFICATION_FAILED' });
    });
  });

  describe('when a line shares only the name or only the key ID of a trusted key', () => {
    it('ignores it, and fails for lack of a trusted signature', async () => {
      const impostor = ed25519('example.com/log');
      const sameName = await signNote(TEXT, [impostor.signer]);
      assert.throws(() => verifySignedNote(sameName, [log.verifier]), {
        code: 'VERIFICATION_FAILED',
      });
      const sameId: NoteSigner = {
        ...impostor.signer,
        name: 'other.example',
        keyId: log.signer.keyId,
      };
      const sameIdNote = await signNote(TEXT, [sameId, log.signer]);
      assert.equal(verifySignedNote(sameIdNote, [log.verifier]).verified.length, 1);
    });
  });

  describe('when the trusted key name and ID match but the signature was made by another key', () => {
    it('throws VERIFICATION_FAILED even if another trusted signature verifies', async () => {
      const impostor = ed25519('example.com/log');
      const forged: NoteSigner = { ...impostor.signer, keyId: log.signer.keyId };
      const note = await signNote(TEXT, [forged]);
      assert.throws(() => verifySignedNote(note, [log.verifier]), { code: 'VERIFICATION_FAILED' });
      const mixed = await signNote(TEXT, [ecLog.signer, forged]);
      assert.throws(() => verifySignedNote(mixed, [ecLog.verifier, log.verifier]), {
        code: 'VERIFICATION_FAILED',
      });
    });
  });

  describe('when the text was altered after signing', () => {
    it('throws VERIFICATION_FAILED', async () => {
      const note = await signNote(TEXT, [log.signer]);
      const altered = note.replace('\n42\n', '\n43\n');
      assert.throws(() => verifySignedNote(altered, [log.verifier]), {
        code: 'VERIFICATION_FAILED',
      });
    });
  });

  describe('when the ECDSA signature is not valid DER', () => {
    it('throws VERIFICATION_FAILED', () => {
      const bytes = new Uint8Array([...ecLog.verifier.keyId, 0x30, 0x02, 0xff]);
      const note = `${TEXT}\n\u2014 example.com/ec-log ${Buffer.from(bytes).toString('base64')}\n`;
      assert.throws(() => verifySignedNote(note, [ecLog.verifier]), {
        code: 'VERIFICATION_FAILED',
      });
    });
  });

  describe('when the note is malformed', () => {
    it('throws VERIFICATION_FAILED', async () => {
      const note = await signNote(TEXT, [log.signer]);
      for (const bad of [
        note.slice(0, -1),
        note.replace(/\n/g, '\r\n'),
        `${TEXT}${note.slice(TEXT.length + 1)}`,
      ]) {
        assert.throws(() => verifySignedNote(bad, [log.verifier]), { code: 'VERIFICATION_FAILED' });
      }
    });
  });

  describe('when no verifier is given', () => {
    it('throws VERIFICATION_FAILED', async () => {
      const note = await signNote(TEXT, [log.signer]);
      assert.throws(() => verifySignedNote(note, []), { code: 'VERIFICATION_FAILED' });
    });
  });
});

describe('parseSignedNote', () => {
  const line = `\u2014 example.com/log ${Buffer.from([1, 2, 3, 4, 5, 6]).toString('base64')}\n`;

  it('splits text and signature lines, keeping the final newline in the text', () => {
    const note = parseSignedNote(`${TEXT}\n${line}`);
    assert.equal(note.text, TEXT);
    assert.deepEqual(note.signatures, [
      {
        name: 'example.com/log',
        keyId: new Uint8Array([1, 2, 3, 4]),
        signature: new Uint8Array([5, 6]),
      },
    ]);
  });

  it('round-trips through formatSignedNote', () => {
    const encoded = `${TEXT}\n${line}${line}`;
    assert.equal(formatSignedNote(parseSignedNote(encoded)), encoded);
  });

  it(`accepts ${MAX_NOTE_SIGNATURES} signature lines`, () => {
    assert.equal(
      parseSignedNote(`${TEXT}\n${line.repeat(MAX_NOTE_SIGNATURES)}`).signatures.length,
      100,
    );
  });

  const malformed: [string, string | Uint8Array][] = [
    ['it does not end with a newline', `${TEXT}\n${line.slice(0, -1)}`],
    ['it contains a carriage return', `${TEXT.replace('\n', '\r\n')}\n${line}`],
    ['it contains a tab', `a\tb\n\n${line}`],
    ['it has no blank line before the signatures', `${TEXT}${line}`],
    ['it has no signature lines', `${TEXT}\n`],
    ['it has no text', line],
    ['a signature line lacks the em dash', `${TEXT}\n- example.com/log AQIDBAUG\n`],
    ['a signature line has a double space', `${TEXT}\n\u2014 example.com/log  AQIDBAUG\n`],
    ['a signature line has a third field', `${TEXT}\n\u2014 example.com/log AQIDBAUG x\n`],
    ['a key name contains a plus sign', `${TEXT}\n\u2014 example.com+log AQIDBAUG\n`],
    ['a signature is not base64', `${TEXT}\n\u2014 example.com/log AQID*AUG\n`],
    ['a signature is not canonical base64', `${TEXT}\n\u2014 example.com/log AQIDBAV=\n`],
    ['a signature lacks padding', `${TEXT}\n\u2014 example.com/log AQIDBAU\n`],
    ['a signature is only a key ID', `${TEXT}\n\u2014 example.com/log AQIDBA==\n`],
    ['it has too many signature lines', `${TEXT}\n${line.repeat(MAX_NOTE_SIGNATURES + 1)}`],
    [
      'it is not valid UTF-8',
      new Uint8Array([
        ...Buffer.from(`${TEXT.slice(0, -1)}\xff`, 'latin1'),
        10,
        10,
        ...Buffer.from(line),
      ]),
    ],
    ['it contains a lone surrogate', `a\ud800b\n\n${line}`],
    ['it is larger than 1 MiB', `${'a'.repeat(1024 * 1024)}\n\n${line}`],
  ];
  for (const [when, note] of malformed) {
    describe(`when ${when}`, () => {
      it('throws INVALID_INPUT', () => {
        assert.throws(() => parseSignedNote(note), { code: 'INVALID_INPUT' });
      });
    });
  }
});

describe('signNote', () => {
  describe('when the text does not end with a newline or contains CR', () => {
    it('throws INVALID_INPUT', async () => {
      await assert.rejects(signNote('no newline', [log.signer]), { code: 'INVALID_INPUT' });
      await assert.rejects(signNote('a\r\n', [log.signer]), { code: 'INVALID_INPUT' });
      await assert.rejects(signNote('', [log.signer]), { code: 'INVALID_INPUT' });
    });
  });

  describe('when there is no signer', () => {
    it('throws INVALID_INPUT', async () => {
      await assert.rejects(signNote(TEXT, []), { code: 'INVALID_INPUT' });
    });
  });

  describe('when a signer fails', () => {
    it('passes its error through', async () => {
      const failing: NoteSigner = {
        ...log.signer,
        sign: () =>
          Promise.reject(Object.assign(new Error('hsm down'), { code: 'KEY_UNAVAILABLE' })),
      };
      await assert.rejects(signNote(TEXT, [failing]), { code: 'KEY_UNAVAILABLE' });
    });
  });
});

describe('Sigstore log keys in the conformance trusted roots', () => {
  const dir = sharedPath('conformance', 'sigstore', 'bundle-verify');
  if (!requireSharedData(dir, 'the sigstore-conformance bundles')) return;

  interface TrustedRoot {
    tlogs: { baseUrl: string; publicKey: { rawBytes: string }; logId: { keyId: string } }[];
  }
  const tlogs = ['invalid-ct-key_fail', 'rekor2-happy-path'].flatMap(
    (name) =>
      (JSON.parse(readFileSync(`${dir}/${name}/trusted_root.json`, 'utf8')) as TrustedRoot).tlogs,
  );

  it('have key IDs equal to the first 4 bytes of their log IDs (ECDSA and Ed25519)', () => {
    const checked = new Set<string>();
    for (const tlog of tlogs) {
      const name = new URL(tlog.baseUrl).hostname;
      const keyId = noteKeyId(name, new Uint8Array(Buffer.from(tlog.publicKey.rawBytes, 'base64')));
      assert.equal(
        hex(keyId),
        Buffer.from(tlog.logId.keyId, 'base64').subarray(0, 4).toString('hex'),
        name,
      );
      checked.add(name);
    }
    assert.ok(
      checked.has('rekor.sigstore.dev') && checked.has('log2025-alpha1.rekor.sigstage.dev'),
    );
  });
});
