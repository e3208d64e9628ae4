/**
 * Commits: how an invocation's transaction (txn.ts) ends. `commit` applies its effects and stores
 * them with its journal records, its outcome and its ack as one unit of the write batch, so they
 * share one LMDB transaction (many invocations may share it: group commit); `abort` drops the
 * effects and stores only the records and what the crash leads to. `answered` tells whoever
 * waits outside the kernel once that unit is on disk (durability `strict`), or at once
 * (`relaxed`).
 *
 * @example
 * const txn = commits.begin(agent, { t: 'invoke', at, message });
 * // ... the call runs; capabilities stage effects on txn ...
 * commits.commit(agent, txn, () => { journal.append(...outcome); mailboxes.ack(...); });
 * commits.answered(waiter, () => waiter.resolve(value));
 */
import type { Logger } from 'pino';
import type { AgentRuntime, Waiter } from '../agents/agent.js';
import { AgentOSError } from '../base/errors.js';
import { Txn } from '../hostcall/txn.js';
import type { Journal, JournalRecord } from '../store/journal.js';
import type { WriteBatch } from '../store/write-batch.js';

/**
 * `strict`: an outside caller (`kernel.send`, `invoke`) is answered once the invocation's unit is
 * on disk. `relaxed`: at once, when the call returns; a crash of the kernel process may then
 * lose an invocation whose caller was already answered (it is delivered again after restart).
 */
export type Durability = 'strict' | 'relaxed';

export interface CommitDeps {
  batch: WriteBatch;
  journal: Journal;
  logger: Logger;
  durability: Durability;
  /** Runs `f`, which may wake many agents (a call's sends), and dispatches once after it. */
  coalesce: (f: () => void) => void;
}

export class Commits {
  constructor(private readonly deps: CommitDeps) {}

  /**
   * Opens the transaction of a call into `agent` (its first record, e.g. the `invoke`); hostcalls
   * of the agent stage their effects on it until it ends. `prior`: an earlier call of the same
   * batch, still open, whose writes this one sees.
   */
  begin(agent: AgentRuntime, first: JournalRecord | null, prior: Txn | null = null): Txn {
    const txn = new Txn(agent.id, prior);
    if (first) txn.records.push(first);
    agent.txn = txn;
    return txn;
  }

  /** Applies `txn`'s effects and stores them with its records and `tail` (outcome, ack), as one unit. */
  commit(agent: AgentRuntime, txn: Txn, tail: () => void): void {
    this.end(agent, txn, true, tail);
  }

  /** Drops `txn`'s effects; stores its records and `tail` (the crash, a retry or a dead letter). */
  abort(agent: AgentRuntime, txn: Txn, tail: () => void): void {
    this.end(agent, txn, false, tail);
  }

  /** Stores what `f` queues as one unit (an outcome outside any call: an expiry, a failed start). */
  unit(f: () => void): void {
    this.deps.batch.atomic(f);
  }

  private end(agent: AgentRuntime, txn: Txn, ok: boolean, tail: () => void): void {
    if (agent.txn === txn) agent.txn = null;
    const fail = (e: unknown): void =>
      this.deps.logger.error({ agent: agent.id, err: e }, 'an effect of an invocation could not be applied');
    if (!ok) txn.drop(fail);
    const store = (): void =>
      this.deps.batch.atomic(() => {
        for (const r of txn.records) this.deps.journal.append(agent.id, r);
        if (ok) txn.apply(fail);
        tail();
      });
    // The receivers of the call's sends are dispatched once, after all of them are queued; a
    // call that staged nothing (most) needs no extra dispatch pass.
    if (ok && txn.size > 0) this.deps.coalesce(store);
    else store();
  }

  /**
   * Tells `waiter` its answer: an outside caller once everything queued so far (the unit that
   * settled its message) is on disk, a caller inside the kernel (an agent's `ipc.call`) at once —
   * its own invocation commits after this one in any case, as the write batch keeps order.
   */
  answered(waiter: Waiter | undefined, tell: (w: Waiter) => void): void {
    if (!waiter) return;
    waiter.answered?.();
    if (!waiter.external || this.deps.durability === 'relaxed') {
      tell(waiter);
      return;
    }
    this.deps.batch.afterDurable((failure) => {
      if (!failure) tell(waiter);
      else
        waiter.reject(
          new AgentOSError(
            'AOS_E_DATA_DIR',
            `the outcome was not stored: ${failure.message}`,
            {},
            {
              cause: failure,
            },
          ),
        );
    });
  }
}
