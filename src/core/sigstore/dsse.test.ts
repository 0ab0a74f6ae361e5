import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { encodeDssePae } from './dsse.ts';

describe('encodeDssePae', () => {
  it('matches the DSSE protocol example', () => {
    // secure-systems-lab/dsse protocol.md: PAE("http://example.com/HelloWorld", "hello world").
    const pae = encodeDssePae(
      'http://example.com/HelloWorld',
      new TextEncoder().encode('hello world'),
    );
    assert.equal(
      new TextDecoder().decode(pae),
      'DSSEv1 29 http://example.com/HelloWorld 11 hello world',
    );
  });

  it('counts bytes, not characters', () => {
    const pae = encodeDssePae('t\u00e9', Uint8Array.of(0xff, 0x00));
    assert.deepEqual([...pae], [...new TextEncoder().encode('DSSEv1 3 t\u00e9 2 '), 0xff, 0x00]);
  });

  it('encodes an empty payload', () => {
    assert.equal(new TextDecoder().decode(encodeDssePae('x', new Uint8Array())), 'DSSEv1 1 x 0 ');
  });
});
