/**
 * Durable commits off the event loop (threat model FT-3, FT-4). With `synchronous=FULL`, SQLite
 * fsyncs its write-ahead log inside COMMIT, and node:sqlite runs COMMIT on the event loop: every
 * durable commit stalled the whole service for the length of a disk flush. Instead the connection
 * runs with `synchronous=NORMAL` (COMMIT writes the log's frames but does not sync them) and the
 * driver calls `sync()` after every commit, which fdatasyncs the write-ahead log file on libuv's
 * thread pool. The commit resolves only once the flush has returned, and the driver keeps the
 * connection until then, so nothing reads a commit before it is durable: the same guarantee as
 * FULL, which also only syncs the write-ahead log at commit.
 *
 * The file handle stays valid for as long as the storage is open: SQLite deletes `<db>-wal` only
 * when the last connection to the database closes, and truncating or rewinding it after a
 * checkpoint keeps the same file.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Syncs the write-ahead log of one SQLite database. */
export interface WalSync {
  /** Resolves once everything written to the write-ahead log so far is on stable storage. */
  sync(): Promise<void>;
  /** Closes the file handle; call after the database is closed. */
  close(): Promise<void>;
}

/** The write-ahead log syncer of the database file at `databasePath`. */
export function createWalSync(databasePath: string): WalSync {
  const walPath = `${databasePath}-wal`;
  let handle: Promise<FileHandle> | undefined;

  /** Opened at the first commit, when the file exists; its directory entry is synced once. */
  const openWal = async (): Promise<FileHandle> => {
    const wal = await open(walPath, 'r');
    try {
      const directory = await open(dirname(walPath), 'r');
      try {
        await directory.sync();
      } finally {
        await directory.close();
      }
      return wal;
    } catch (error) {
      await wal.close();
      throw error;
    }
  };

  return {
    async sync() {
      handle ??= openWal();
      let wal: FileHandle;
      try {
        wal = await handle;
      } catch (error) {
        handle = undefined;
        throw error;
      }
      await wal.datasync();
    },
    async close() {
      const opened = handle;
      handle = undefined;
      if (opened === undefined) return;
      await (await opened.catch(() => undefined))?.close();
    },
  };
}
