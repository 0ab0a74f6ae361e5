import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createFakeClock } from '../../../test/identity/test-issuer.ts';
import { createMemoryTokenIdStore } from './memory-token-id-store.ts';

describe('createMemoryTokenIdStore', () => {
  const inSeconds = (clock: { now(): Date }, seconds: number): Date =>
    new Date(clock.now().getTime() + seconds * 1000);

  it('accepts a token id once and refuses it again until it expires', async () => {
    const clock = createFakeClock();
    const store = createMemoryTokenIdStore({ clock });
    assert.equal(await store.consume('https://iss', 'jti-1', inSeconds(clock, 300)), true);
    assert.equal(await store.consume('https://iss', 'jti-1', inSeconds(clock, 300)), false);
    clock.advance(299);
    assert.equal(await store.consume('https://iss', 'jti-1', inSeconds(clock, 300)), false);
    clock.advance(1);
    assert.equal(await store.consume('https://iss', 'jti-1', inSeconds(clock, 300)), true);
  });

  it('scopes token ids to their issuer, without separator ambiguity', async () => {
    const clock = createFakeClock();
    const store = createMemoryTokenIdStore({ clock });
    assert.equal(await store.consume('https://a', 'b:c', inSeconds(clock, 60)), true);
    assert.equal(await store.consume('https://b', 'b:c', inSeconds(clock, 60)), true);
    assert.equal(await store.consume('https://a:b', 'c', inSeconds(clock, 60)), true);
  });

  describe('when full of unexpired ids', () => {
    it('refuses new ids with RATE_LIMITED instead of forgetting old ones', async () => {
      const clock = createFakeClock();
      const store = createMemoryTokenIdStore({ clock, maxEntries: 2 });
      await store.consume('i', 'a', inSeconds(clock, 100));
      await store.consume('i', 'b', inSeconds(clock, 200));
      await assert.rejects(store.consume('i', 'c', inSeconds(clock, 300)), {
        code: 'RATE_LIMITED',
        retryAfterSeconds: 100,
      });
      assert.equal(
        await store.consume('i', 'a', inSeconds(clock, 100)),
        false,
        'a is still remembered',
      );
    });

    it('makes room once ids expire', async () => {
      const clock = createFakeClock();
      const store = createMemoryTokenIdStore({ clock, maxEntries: 2 });
      await store.consume('i', 'a', inSeconds(clock, 10));
      await store.consume('i', 'b', inSeconds(clock, 10));
      clock.advance(10);
      assert.equal(await store.consume('i', 'c', inSeconds(clock, 10)), true);
      assert.equal(await store.consume('i', 'd', inSeconds(clock, 10)), true);
    });
  });

  it('refuses a non-positive capacity', () => {
    assert.throws(() => createMemoryTokenIdStore({ clock: createFakeClock(), maxEntries: 0 }), {
      code: 'CONFIG_INVALID',
    });
  });
});
