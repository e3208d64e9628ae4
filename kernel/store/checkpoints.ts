/**
 * Checkpoints: an agent's instance state (worker/snapshot.ts) at a point of its journal, kept so
 * that its heap can be rebuilt (kernel/exec/recovery.ts: the checkpoint, then the journal's later
 * invocations re-executed with their hostcalls answered from the journal), replayed from there
 * (kernel/replay-run.ts), and so that the journal before it can be pruned (exec/retention.ts).
 * Taken every `checkpointEvery` invocations, on suspend, when an agent goes dormant, at a fork's
 * first start, at an export, and when asked (`kernel.checkpoint`). The latest KEEP of each agent are kept.
 *
 * Keys are `[agent, seq]`: `seq` is the last journal entry the state includes (every record up
 * to it is in the state; none after it).
 *
 * @example
 * checkpoints.put('echo-1a2b3c', { seq: 41, digest, build, grants, bytes, at });
 * checkpoints.latest('echo-1a2b3c');   // the newest, or undefined
 */
import type { Database } from 'lmdb';
import type { Store } from './store.js';

export interface Checkpoint {
  /** The last journal entry the state includes. */
  seq: number;
  /** The component it is a state of, how its modules were built, and the grants it ran with. */
  digest: string;
  build: string;
  grants: string[];
  bytes: Uint8Array;
  /** Kernel-clock ms. */
  at: number;
}

/** How many checkpoints of one agent are kept (the newest). */
export const KEEP = 2;

/** A kept checkpoint without its state: what `inspect` and `list` show. */
export interface CheckpointSummary {
  seq: number;
  at: number;
  /** Size of the state. */
  bytes: number;
}

export class Checkpoints {
  private readonly db: Database<Checkpoint, [string, number]>;
  /**
   * Each agent's kept checkpoints without their states, oldest first: read once, then kept as
   * they are put and dropped, so listing them never decodes a state (10,000 agents' states
   * would be hundreds of MB for one `kernel.list()`).
   */
  private readonly summaries = new Map<string, CheckpointSummary[]>();

  constructor(private readonly store: Store) {
    this.db = store.db('checkpoints') as unknown as Database<Checkpoint, [string, number]>;
  }

  /** Every kept checkpoint of `agent`, oldest first. Call after `Store.flushed()`. */
  all(agent: string): Checkpoint[] {
    return [...this.db.getRange({ start: [agent, -1], end: [agent, Number.MAX_SAFE_INTEGER] })].map(
      (e) => e.value,
    );
  }

  latest(agent: string): Checkpoint | undefined {
    for (const { value } of this.db.getRange({
      start: [agent, Number.MAX_SAFE_INTEGER],
      end: [agent, -1],
      reverse: true,
      limit: 1,
    }))
      return value;
    return undefined;
  }

  oldest(agent: string): Checkpoint | undefined {
    for (const { value } of this.db.getRange({
      start: [agent, -1],
      end: [agent, Number.MAX_SAFE_INTEGER],
      limit: 1,
    }))
      return value;
    return undefined;
  }

  /** The kept checkpoints of `agent` without their states, oldest first (as queued). */
  summary(agent: string): readonly CheckpointSummary[] {
    let list = this.summaries.get(agent);
    if (!list) {
      list = this.all(agent).map((c) => ({ seq: c.seq, at: c.at, bytes: c.bytes.length }));
      this.summaries.set(agent, list);
    }
    return list;
  }

  /**
   * Queues the write with the kernel's next batch (after every record queued before it, so it is
   * never on disk without the journal it stands for), and drops the ones past the newest KEEP.
   */
  put(agent: string, c: Checkpoint): void {
    const kept = this.summary(agent).filter((x) => x.seq < c.seq);
    const dropped = kept.slice(0, Math.max(0, kept.length - (KEEP - 1)));
    this.store.batch.atomic(() => {
      this.store.batch.put(this.db, [agent, c.seq], c);
      for (const x of dropped) this.store.batch.remove(this.db, [agent, x.seq]);
    });
    const newer = this.summary(agent).filter((x) => x.seq > c.seq);
    this.summaries.set(agent, [
      ...kept.slice(dropped.length),
      { seq: c.seq, at: c.at, bytes: c.bytes.length },
      ...newer,
    ]);
  }

  /** Drops every checkpoint of `agent` (terminated, exported). */
  forget(agent: string): void {
    for (const x of this.summary(agent)) this.store.batch.remove(this.db, [agent, x.seq]);
    const none: CheckpointSummary[] = [];
    this.summaries.set(agent, none);
    // Once the removals are on disk, nothing need be remembered of the agent (unless it has new ones).
    const done = (): void => {
      if (this.summaries.get(agent) === none) this.summaries.delete(agent);
    };
    void this.store.flushed().then(done, done);
  }

  /** Bytes the kept checkpoints of `agent` take. */
  bytes(agent: string): number {
    return this.summary(agent).reduce((n, x) => n + x.bytes, 0);
  }
}
