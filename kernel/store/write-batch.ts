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
 * A put can be withdrawn while it is still queued (`putWithdrawable`): a message handled within
 * the few milliseconds before its append is flushed then never touches LMDB at all — the append
 * and its ack would have committed in the same transaction anyway. Its value is encoded only
 * when flushed, so a withdrawn put costs no encoding either.
 *
 * @example
 * const batch = new WriteBatch(root);
 * batch.put(db, ['agent', 1], bytes);
 * batch.atomic(() => { batch.put(db, ['agent', 2], a); batch.remove(db, ['agent', 1]); }); // one unit
 * batch.afterDurable((failure) => answer(failure)); // once all of it is on disk
 * batch.flush(); // hand everything to LMDB now
 */
import { clearImmediate, setImmediate } from 'node:timers';
import type { Database, Key, RootDatabase } from 'lmdb';

/** Queued operations are handed to LMDB at least this often (ms), or once this many wait. */
export const FLUSH_MS = 2;
const FLUSH_OPS = 1024;

type Op = () => void;

/** Told once a flush is on disk, or with why it could not be written. */
export type Durable = (failure?: Error) => void;

/** A queued put; `withdraw()` cancels it and says true, or says false once it was flushed. */
export interface PendingPut {
  withdraw(): boolean;
}

const FLUSHED: PendingPut = { withdraw: () => false };

export class WriteBatch {
  private ops: Op[] = [];
  private callbacks: (() => void)[] = [];
  private durable: Durable[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private immediate: ReturnType<typeof setImmediate> | undefined;
  /** Inside `atomic`: queued operations wait, so a flush never splits what it queues. */
  private holds = 0;
  private closed = false;
  /** Counts flushes: a put queued in an earlier one can no longer be withdrawn. */
  private generation = 0;
  /** Writers that keep their own queue and write it out as a flush begins (the journal). */
  private readonly writers: (() => void)[] = [];
  private deferredOps = 0;
  private flushing = false;
  /**
   * Told when a write could not be prepared at flush time (a value that failed to encode, a
   * writer that threw): the rest of the batch is written regardless. The kernel logs it.
   */
  onError: (e: unknown, what: string) => void = () => {};

  constructor(private readonly root: RootDatabase) {}

  /** Flushes, then drops whatever is queued later (the environment is closing). */
  close(): void {
    this.holds = 0;
    this.flush();
    this.closed = true;
  }

  put<K extends Key, V>(db: Database<V, K>, key: K, value: V): void {
    this.queue(() => void db.put(key, value));
  }

  /** Queues a put of `value()` (called at flush time) that `withdraw()` cancels until then. */
  putWithdrawable<K extends Key, V>(db: Database<V, K>, key: K, value: () => V): PendingPut {
    if (this.closed) return FLUSHED;
    const generation = this.generation;
    let live = true;
    this.queue(() => {
      if (!live) return;
      try {
        void db.put(key, value());
      } catch (e) {
        this.onError(e, 'a queued write');
      }
    });
    return {
      withdraw: () => {
        if (generation !== this.generation || !live) return false;
        live = false;
        return true;
      },
    };
  }

  remove<K extends Key, V>(db: Database<V, K>, key: K): void {
    this.queue(() => void db.remove(key));
  }

  /**
   * Registers a writer that queues its own pending writes when a flush begins, so they commit in
   * the same transaction as everything queued with them.
   */
  beforeFlush(write: () => void): void {
    this.writers.push(write);
  }

  /** A registered writer has one more write pending: a flush is due within FLUSH_MS. */
  deferred(): void {
    if (this.closed) return;
    this.deferredOps++;
    this.due();
  }

  /** Calls `f` once everything queued so far is committed. */
  afterCommit(f: () => void): void {
    if (this.closed) return;
    this.callbacks.push(f);
  }

  /**
   * Calls `f` once everything queued so far is on disk (committed and synced), or with the
   * error that kept it from being written. The flush comes at the end of this event-loop turn,
   * not FLUSH_MS later: someone waits for it.
   */
  afterDurable(f: Durable): void {
    if (this.closed) {
      f(new Error('the data dir was closed before the write reached it'));
      return;
    }
    this.durable.push(f);
    this.immediate ??= setImmediate(() => {
      this.immediate = undefined;
      this.flush();
    });
  }

  /**
   * Runs `f`, which queues writes that must commit together (one invocation's records, effects,
   * outcome and ack): no flush starts while it runs, so they share one transaction.
   */
  atomic<T>(f: () => T): T {
    this.holds++;
    try {
      return f();
    } finally {
      this.holds--;
      if (this.holds === 0) this.due();
    }
  }

  private queue(op: Op): void {
    if (this.closed) return;
    this.ops.push(op);
    this.due();
  }

  /** Flushes now when enough is queued, else within FLUSH_MS (never inside `atomic`). */
  private due(): void {
    if (this.holds === 0 && this.ops.length + this.deferredOps >= FLUSH_OPS) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), FLUSH_MS);
  }

  /** Hands every queued operation to LMDB, in one transaction. */
  flush(): void {
    if (this.holds > 0) return; // `atomic` flushes when it is done
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.immediate) clearImmediate(this.immediate);
    this.immediate = undefined;
    this.deferredOps = 0;
    if (this.flushing) return; // a writer's put reached FLUSH_OPS: this flush takes it
    this.flushing = true;
    try {
      for (const write of this.writers) {
        try {
          write();
        } catch (e) {
          this.onError(e, 'a deferred write');
        }
      }
    } finally {
      this.flushing = false;
    }
    const ops = this.ops;
    const callbacks = this.callbacks;
    const durable = this.durable;
    if (ops.length === 0 && callbacks.length === 0 && durable.length === 0) return;
    this.generation++;
    this.ops = [];
    this.callbacks = [];
    this.durable = [];
    const committed = this.root.batch(() => {
      for (const op of ops) op();
    }) as Promise<unknown> & { flushed?: Promise<unknown> };
    committed.then(
      () => {
        for (const f of callbacks) f();
      },
      (e: unknown) => this.onError(e, 'a commit'),
    );
    if (durable.length === 0) return;
    // With overlapping sync (lmdb-js's default here) a commit is on disk once `flushed` resolves.
    (committed.flushed ?? committed).then(
      () => {
        for (const f of durable) f();
      },
      (e: unknown) => {
        const failure = new Error(`the write batch could not be stored: ${(e as Error)?.message ?? e}`);
        for (const f of durable) f(failure);
      },
    );
  }
}
