/**
 * The snapshots of dormant agents (kernel/exec/dormancy.ts): an agent idle long enough has its
 * instance's state kept here and its instance dropped; its next message starts an instance from
 * it. One per agent, removed once an instance started from it (it is then out of date), so one
 * still here after a restart is exactly where the agent stopped.
 *
 * @example
 * snapshots.put('echo-1a2b3c', { digest, bytes, at: Date.now() });
 * snapshots.get('echo-1a2b3c');     // the state, or undefined
 */
import type { Database } from 'lmdb';
import type { Store } from './store.js';

export interface StoredSnapshot {
  /** The component it is a state of, and how its modules were built: nothing else starts from it. */
  digest: string;
  build: string;
  /** worker/snapshot.ts's bytes. */
  bytes: Uint8Array;
  /** Kernel-clock ms. */
  at: number;
}

export class Snapshots {
  private readonly db: Database<StoredSnapshot, string>;
  /** Written but not yet committed (reads see them at once); null: removed, not yet committed. */
  private readonly pending = new Map<string, StoredSnapshot | null>();

  constructor(private readonly store: Store) {
    this.db = store.db('snapshots') as unknown as Database<StoredSnapshot, string>;
  }

  get(agent: string): StoredSnapshot | undefined {
    const p = this.pending.get(agent);
    if (p !== undefined) return p ?? undefined;
    return this.db.get(agent);
  }

  /** Queues the write with the kernel's next batch (after every unit queued before it). */
  put(agent: string, s: StoredSnapshot): void {
    this.store.batch.put(this.db, agent, s);
    this.held(agent, s);
  }

  remove(agent: string): void {
    this.store.batch.remove(this.db, agent);
    this.held(agent, null);
  }

  /** Keeps what was just written readable until LMDB has it (then reads go there again). */
  private held(agent: string, s: StoredSnapshot | null): void {
    this.pending.set(agent, s);
    this.store.batch.afterCommit(() => {
      if (this.pending.get(agent) === s) this.pending.delete(agent);
    });
  }

  /** Every agent with a snapshot kept (read at open, before anything is written). */
  agents(): string[] {
    return [...this.db.getKeys({})] as string[];
  }
}
