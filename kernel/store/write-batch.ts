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
import type { Database, Key, RootDatabase } from 'lmdb';

/** Queued operations are handed to LMDB at least this often (ms), or once this many wait. */
export const FLUSH_MS = 2;
const FLUSH_OPS = 1024;

type Op = () => void;

export class WriteBatch {
  private ops: Op[] = [];
  private callbacks: (() => void)[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;

  constructor(private readonly root: RootDatabase) {}

  /** Flushes, then drops whatever is queued later (the environment is closing). */
  close(): void {
    this.flush();
    this.closed = true;
  }

  put<K extends Key, V>(db: Database<V, K>, key: K, value: V): void {
    this.queue(() => void db.put(key, value));
  }

  remove<K extends Key, V>(db: Database<V, K>, key: K): void {
    this.queue(() => void db.remove(key));
  }

  /** Calls `f` once everything queued so far is committed. */
  afterCommit(f: () => void): void {
    if (this.closed) return;
    this.callbacks.push(f);
  }

  private queue(op: Op): void {
    if (this.closed) return;
    this.ops.push(op);
    if (this.ops.length >= FLUSH_OPS) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), FLUSH_MS);
  }

  /** Hands every queued operation to LMDB, in one transaction. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const ops = this.ops;
    const callbacks = this.callbacks;
    if (ops.length === 0 && callbacks.length === 0) return;
    this.ops = [];
    this.callbacks = [];
    void this.root
      .batch(() => {
        for (const op of ops) op();
      })
      .then(() => {
        for (const f of callbacks) f();
      });
  }
}
