/**
 * The results of calls whose effect left the data dir (`Capability.outside`), kept from the
 * moment each one is made until its message's outcome is final. A message that runs again
 * (after a crash, a lost worker, a kill -9) finds its earlier call at the same place here and is
 * answered from it: the effect happens once.
 *
 * Keyed `[agent, message id, call index]` (the call's place among its invocation's hostcalls).
 * Written through the write batch and flushed before the guest sees the answer; removed in the
 * unit that makes the message's outcome final (its ack or dead letter).
 *
 * @example
 * const kept = outside.get('crawler-1a2b3c', 42, 0);   // { fn, args, status, result } or undefined
 * await outside.put('crawler-1a2b3c', 42, 0, record);   // on disk when it resolves
 * outside.forget('crawler-1a2b3c', 42);                 // the message is done
 */
import type { Database } from 'lmdb';
import type { Store } from './store.js';

export interface OutsideResult {
  /** The call's span (`capability.function`) and its encoded arguments, as the guest sent them. */
  fn: string;
  args: Uint8Array;
  status: number;
  /** The encoded answer the guest got. */
  result: Uint8Array;
}

type Key = [string, number, number];

export class OutsideResults {
  private readonly db: Database<OutsideResult, Key>;

  constructor(private readonly store: Store) {
    this.db = store.db('outside-results') as unknown as Database<OutsideResult, Key>;
  }

  get(agent: string, message: number, index: number): OutsideResult | undefined {
    return this.db.get([agent, message, index]);
  }

  /** Keeps the result; resolves once it is on disk. */
  async put(agent: string, message: number, index: number, r: OutsideResult): Promise<void> {
    this.store.batch.put(this.db, [agent, message, index], r);
    await this.store.flushed();
  }

  /** Drops the results of `message` (within the current write unit). */
  forget(agent: string, message: number): void {
    for (const key of this.db.getKeys({
      start: [agent, message, 0],
      end: [agent, message, Number.MAX_SAFE_INTEGER],
    }))
      this.store.batch.remove(this.db, key as Key);
  }

  /** Drops every result of `agent` (it is terminated). */
  forgetAgent(agent: string): void {
    for (const key of this.db.getKeys({ start: [agent, 0, 0], end: [agent, Number.MAX_SAFE_INTEGER, 0] }))
      this.store.batch.remove(this.db, key as Key);
  }
}
