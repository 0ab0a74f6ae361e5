import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ReadWriteLock } from './read-write-lock.ts';

/** A promise and the function that resolves it. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open = (): void => undefined;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

describe('ReadWriteLock', () => {
  it('lets shared holders overlap', async () => {
    const lock = new ReadWriteLock();
    const release = gate();
    let inside = 0;
    let most = 0;
    const holders = Array.from({ length: 3 }, () =>
      lock.shared(async () => {
        inside += 1;
        most = Math.max(most, inside);
        await release.promise;
        inside -= 1;
      }),
    );
    await Promise.resolve();
    release.open();
    await Promise.all(holders);
    assert.equal(most, 3);
  });

  it('runs an exclusive holder alone, after earlier readers and before later ones', async () => {
    const lock = new ReadWriteLock();
    const events: string[] = [];
    const release = gate();
    const early = lock.shared(async () => {
      events.push('early reader in');
      await release.promise;
      events.push('early reader out');
    });
    const writer = lock.exclusive(() => {
      events.push('writer');
    });
    const late = lock.shared(() => {
      events.push('late reader');
    });
    await Promise.resolve();
    assert.deepEqual(events, ['early reader in']);
    release.open();
    await Promise.all([early, writer, late]);
    assert.deepEqual(events, ['early reader in', 'early reader out', 'writer', 'late reader']);
  });

  it('releases the lock when the work throws', async () => {
    const lock = new ReadWriteLock();
    await assert.rejects(
      lock.exclusive(() => {
        throw new Error('boom');
      }),
      /boom/,
    );
    assert.equal(await lock.exclusive(() => 'free again'), 'free again');
  });
});
