/**
 * A child process that appends to the log as fast as it can until it is killed, for crash and
 * fail-over tests. It prints one JSON line per acknowledged entry, only after `append` resolved
 * (the entry is durably committed): `{ "key", "index", "treeSize", "rootHash", "checkpoint" }`.
 *
 * argv[2]: JSON `{ storage: StorageOptions, keyPath, origin, writer, concurrency }`.
 */
import { loadOrCreateFileKey } from '../../src/adapters/keys/file-key.ts';
import { openStorage } from '../../src/adapters/storage/open-storage.ts';
import type { StorageOptions } from '../../src/adapters/storage/open-storage.ts';
import { openLogSequencer } from '../../src/app/log-sequencer.ts';

interface WriterArgs {
  readonly storage: StorageOptions;
  readonly keyPath: string;
  readonly origin: string;
  readonly writer: string;
  readonly concurrency: number;
}

const args = JSON.parse(process.argv[2] ?? '{}') as WriterArgs;
const storage = await openStorage(args.storage);
const logKey = loadOrCreateFileKey({
  path: args.keyPath,
  id: 'log',
  purpose: 'log',
  create: false,
});
const sequencer = await openLogSequencer({
  storage,
  clock: { now: () => new Date() },
  logKey,
  origin: args.origin,
});
process.stdout.write(JSON.stringify({ ready: true }) + '\n');

let counter = 0;
async function work(): Promise<void> {
  for (;;) {
    const key = `${args.writer}-${process.pid}-${counter++}`;
    try {
      const [result] = await sequencer.append([
        { kind: 'test/v1', body: new TextEncoder().encode(key), idempotencyKey: key },
      ]);
      if (result === undefined) continue;
      process.stdout.write(
        JSON.stringify({
          key,
          index: result.index.toString(),
          treeSize: result.treeSize.toString(),
          rootHash: Buffer.from(result.rootHash).toString('base64'),
          checkpoint: result.checkpoint,
        }) + '\n',
      );
    } catch (error) {
      // Unacknowledged: the parent only counts what was printed. Back off briefly (e.g. the
      // database restarting) and go on.
      process.stderr.write(`append failed: ${String(error)}\n`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

await Promise.all(Array.from({ length: args.concurrency }, () => work()));
