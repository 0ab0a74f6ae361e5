import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  IN_TOTO_STATEMENT_V1,
  createInTotoStatement,
  hasSubjectDigest,
  parseInTotoStatement,
} from './in-toto-statement.ts';

const SHA256 = 'ab'.repeat(32);

function json(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value));
}

describe('createInTotoStatement', () => {
  it('writes canonical Statement v1 JSON', () => {
    const bytes = createInTotoStatement({
      subjects: [{ name: 'app.tgz', digest: { sha256: SHA256 } }],
      predicateType: 'https://example.com/p/v1',
      predicate: { b: 1, a: 2 },
    });
    assert.equal(
      new TextDecoder().decode(bytes),
      `{"_type":"${IN_TOTO_STATEMENT_V1}","predicate":{"a":2,"b":1},"predicateType":"https://example.com/p/v1","subject":[{"digest":{"sha256":"${SHA256}"},"name":"app.tgz"}]}`,
    );
  });

  it('rejects a statement without subjects', () => {
    assert.throws(
      () => createInTotoStatement({ subjects: [], predicateType: 'p', predicate: {} }),
      {
        code: 'INVALID_INPUT',
      },
    );
  });

  it('rejects a sha256 digest that is not 64 lowercase hex digits', () => {
    assert.throws(
      () =>
        createInTotoStatement({
          subjects: [{ name: 'a', digest: { sha256: SHA256.toUpperCase() } }],
          predicateType: 'p',
          predicate: {},
        }),
      { code: 'INVALID_INPUT' },
    );
  });
});

describe('parseInTotoStatement', () => {
  it('reads subjects, predicate type and predicate, ignoring unknown fields', () => {
    const statement = parseInTotoStatement(
      json({
        _type: IN_TOTO_STATEMENT_V1,
        subject: [{ name: 'a', digest: { sha256: SHA256, gitCommit: 'abc' } }],
        predicateType: 'p',
        predicate: { x: 1 },
        future: true,
      }),
    );
    assert.equal(statement.subjects[0]?.digest['gitCommit'], 'abc');
    assert.deepEqual(statement.predicate, { x: 1 });
  });

  it('also reads Statement v0.1', () => {
    parseInTotoStatement(
      json({
        _type: 'https://in-toto.io/Statement/v0.1',
        subject: [{ name: 'a', digest: { sha256: SHA256 } }],
        predicateType: 'p',
      }),
    );
  });

  for (const [name, value] of [
    [
      'another _type',
      {
        _type: 'https://example.com/x',
        subject: [{ digest: { sha256: SHA256 } }],
        predicateType: 'p',
      },
    ],
    ['no subject', { _type: IN_TOTO_STATEMENT_V1, subject: [], predicateType: 'p' }],
    [
      'a subject without digests',
      { _type: IN_TOTO_STATEMENT_V1, subject: [{ name: 'a', digest: {} }], predicateType: 'p' },
    ],
    [
      'a malformed sha256',
      { _type: IN_TOTO_STATEMENT_V1, subject: [{ digest: { sha256: 'zz' } }], predicateType: 'p' },
    ],
    [
      'no predicate type',
      { _type: IN_TOTO_STATEMENT_V1, subject: [{ digest: { sha256: SHA256 } }] },
    ],
  ] as const) {
    it(`rejects ${name}`, () => {
      assert.throws(() => parseInTotoStatement(json(value)), { code: 'INVALID_INPUT' });
    });
  }

  it('rejects bytes that are not JSON', () => {
    assert.throws(() => parseInTotoStatement(new TextEncoder().encode('{')), {
      code: 'INVALID_INPUT',
    });
  });
});

describe('hasSubjectDigest', () => {
  const statement = parseInTotoStatement(
    json({
      _type: IN_TOTO_STATEMENT_V1,
      subject: [{ name: 'a', digest: { sha256: SHA256 } }],
      predicateType: 'p',
    }),
  );

  it('finds a subject by algorithm and digest', () => {
    assert.equal(hasSubjectDigest(statement, 'sha256', Buffer.from(SHA256, 'hex')), true);
  });

  it('does not match another digest or another algorithm', () => {
    assert.equal(hasSubjectDigest(statement, 'sha256', new Uint8Array(32)), false);
    assert.equal(hasSubjectDigest(statement, 'sha512', Buffer.from(SHA256, 'hex')), false);
  });
});
