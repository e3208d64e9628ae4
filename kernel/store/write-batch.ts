/**
 * Batches the kernel's own writes (journal records, mailbox appends and acks) into one LMDB
 * transaction every few milliseconds. LMDB commits one transaction per event-loop turn that
 * wrote, and the kernel's hot paths write on nearly every turn (one hostcall or one message per
 * turn), so unbatched each record cost a commit on the writer thread — which competes for the
 * same cores as the agents.
 *
 * Order is kept: operations are applied in the order they were queued, so a message's ack never
 * lands before the journal records of its invocation. A crash can lose at most the last
 * FLUSH_MS of queued operations, never reorder them.
 *
 * @example
 * const batch = new WriteBatch();
 * batch.put(db, ['agent', 1], bytes);
 * batch.flush(); // hand everything to LMDB now
 */
import type { Database } from 'lmdb';

/** Queued operations are handed to LMDB at least this often (ms), or once this many wait. */
export const FLUSH_MS = 2;
const FLUSH_OPS = 1024;

type Key = [string, number];
type Op = { db: Database<Uint8Array, Key>; key: Key; value: Uint8Array | null };

export class WriteBatch {
  private ops: Op[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;

  put(db: Database<Uint8Array, Key>, key: Key, value: Uint8Array): void {
    this.queue({ db, key, value });
  }

  remove(db: Database<Uint8Array, Key>, key: Key): void {
    this.queue({ db, key, value: null });
  }

  private queue(op: Op): void {
    this.ops.push(op);
    if (this.ops.length >= FLUSH_OPS) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), FLUSH_MS);
  }

  /** Hands every queued operation to LMDB, in one transaction. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const ops = this.ops;
    if (ops.length === 0) return;
    this.ops = [];
    const first = ops[0]!.db;
    void first.batch(() => {
      for (const op of ops) {
        if (op.value === null) void op.db.remove(op.key);
        else void op.db.put(op.key, op.value);
      }
    });
  }
}
