/**
 * An invocation's transaction. Everything one call into an agent does — its journal records, its
 * writes, the messages it sends, the subscriptions it takes — is held here while the call runs,
 * and applied in one piece when the call ends (kernel/exec/commits.ts):
 *
 * - it returned (a value or a guest error): its effects are applied, in the order they were
 *   made, and committed with its journal records, its outcome and its ack in one LMDB
 *   transaction;
 * - it crashed (a trap, a limit, a lost worker): its effects are dropped (what they reserved goes
 *   back) and only its journal records and the crash are stored. The agent's state is as it was
 *   before the call, so a redelivered message never meets effects of an earlier attempt.
 *
 * The agent reads its own staged writes (`staged`), also those of an earlier call of the same
 * batch that has not committed yet (`prior`).
 *
 * @example
 * const txn = new Txn(agent.id, null);
 * txn.overlay<string, string | null>('working-memory').set('count', '2');
 * txn.onCommit(() => batch.put(db, [agent.id, 'count'], '2'));
 * txn.onAbort(() => bus.unreserve(to, 1));
 */

import type { CallTxn } from '../sdk/services.js';
import type { JournalRecord } from '../store/journal.js';

export type Effect = () => void;

export class Txn implements CallTxn {
  state: 'open' | 'committed' | 'aborted' = 'open';
  /** The call's journal records, in order; they get their sequence numbers when stored. */
  readonly records: JournalRecord[] = [];
  private readonly effects: Effect[] = [];
  private readonly undo: Effect[] = [];
  private overlays: Map<string, Map<unknown, unknown>> | undefined;

  /**
   * @param agent the agent the call belongs to
   * @param prior an earlier call of the same agent still open (the previous message of a batch):
   *   its staged writes are visible to this one
   */
  constructor(
    readonly agent: string,
    public prior: Txn | null,
  ) {}

  /** Runs `f` when the call commits, after the effects staged before it. */
  onCommit(f: Effect): void {
    this.effects.push(f);
  }

  /** Runs `f` when the call is dropped: it gives back what a staged effect reserved. */
  onAbort(f: Effect): void {
    this.undo.push(f);
  }

  /** This call's own staged values of capability `name` (key → value), made on first use. */
  overlay<K, V>(name: string): Map<K, V> {
    this.overlays ??= new Map();
    let m = this.overlays.get(name);
    if (!m) {
      m = new Map();
      this.overlays.set(name, m);
    }
    return m as Map<K, V>;
  }

  /**
   * What this call, or an earlier open call of the same agent, staged for `key` in `name`: the
   * newest wins. Undefined: nothing staged (read the store).
   */
  staged<K, V>(name: string, key: K): { value: V } | undefined {
    for (let t: Txn | null = this; t; t = t.prior) {
      if (t.state !== 'open') continue;
      const m = t.overlays?.get(name);
      if (m?.has(key)) return { value: m.get(key) as V };
    }
    return undefined;
  }

  /** Every staged entry of `name` over this call and the open calls before it, oldest first. */
  allStaged<K, V>(name: string): [K, V][] {
    const chain: Txn[] = [];
    for (let t: Txn | null = this; t; t = t.prior) if (t.state === 'open') chain.unshift(t);
    const out: [K, V][] = [];
    for (const t of chain) for (const e of t.overlays?.get(name) ?? []) out.push(e as [K, V]);
    return out;
  }

  /** How many effects are staged (for tests and stats). */
  get size(): number {
    return this.effects.length;
  }

  /** Applies the staged effects in order; one that throws is reported and the rest still run. */
  apply(onError: (e: unknown) => void): void {
    if (this.state !== 'open') return;
    this.state = 'committed';
    for (const f of this.effects) {
      try {
        f();
      } catch (e) {
        onError(e);
      }
    }
    this.release();
  }

  /** Drops the staged effects and gives back what they reserved. */
  drop(onError: (e: unknown) => void): void {
    if (this.state !== 'open') return;
    this.state = 'aborted';
    for (const f of this.undo) {
      try {
        f();
      } catch (e) {
        onError(e);
      }
    }
    this.release();
  }

  private release(): void {
    this.effects.length = 0;
    this.undo.length = 0;
    this.overlays = undefined;
    this.prior = null;
  }
}
