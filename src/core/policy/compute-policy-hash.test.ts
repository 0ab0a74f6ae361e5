import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { computePolicyHash } from './compute-policy-hash.ts';

const schema = { name: 'schema.cedarschema', text: 'namespace Countersign { entity User; }' };
const a = { name: 'a.cedar', text: '@id("a") permit (principal, action, resource);' };
const b = { name: 'b.cedar', text: '@id("b") forbid (principal, action, resource);' };

describe('computePolicyHash', () => {
  it('is sha256:<64 hex> and the same for the same input', () => {
    const hash = computePolicyHash(schema, [a, b]);
    assert.match(hash, /^sha256:[0-9a-f]{64}$/);
    assert.equal(computePolicyHash(schema, [a, b]), hash);
  });

  it('does not depend on the order sources are listed in, nor on their location', () => {
    assert.equal(
      computePolicyHash(schema, [a, b]),
      computePolicyHash(schema, [b, { ...a, location: { file: 'governance.yaml', line: 40 } }]),
    );
  });

  it('changes with any single byte of any policy, of the schema, or of a source name', () => {
    const base = computePolicyHash(schema, [a, b]);
    const seen = new Set([base]);
    for (let i = 0; i < a.text.length; i += 1) {
      const flipped =
        a.text.slice(0, i) + String.fromCharCode(a.text.charCodeAt(i) ^ 1) + a.text.slice(i + 1);
      seen.add(computePolicyHash(schema, [{ ...a, text: flipped }, b]));
    }
    assert.equal(seen.size, a.text.length + 1);
    assert.notEqual(computePolicyHash({ ...schema, text: `${schema.text} ` }, [a, b]), base);
    assert.notEqual(computePolicyHash(schema, [{ ...a, name: 'c.cedar' }, b]), base);
    assert.notEqual(computePolicyHash(schema, [a]), base);
  });

  it('frames sources so moving text between them changes the hash', () => {
    const joined = computePolicyHash(schema, [
      { name: 'x', text: 'ab' },
      { name: 'y', text: '' },
    ]);
    const split = computePolicyHash(schema, [
      { name: 'x', text: 'a' },
      { name: 'y', text: 'b' },
    ]);
    assert.notEqual(joined, split);
  });
});
