/**
 * Work for one particular worker: the drops of instances it holds (`unload`) and tasks such as
 * taking an instance's state (a snapshot). Each runs once that worker is free, before it is
 * handed anything else (the executor calls `runFree` first in each pump), so an instance dropped
 * is gone before a new instance of the same agent starts there. Tasks are only ever given to
 * free workers: piscina's queue stops at the first task it cannot place, so a task pinned to a
 * busy worker would hold up every other worker.
 *
 * @example
 * if (pinned.detach(agent)) executor.pump();         // its instance goes, when its worker is free
 * const state = await pinned.snapshotOf(agent);      // on its worker, when free
 */
import type { AgentRuntime } from '../agents/agent.js';
import { AgentOSError } from '../base/errors.js';
import type { WireBudget } from '../worker/protocol.js';
import type { WorkerPool, WorkerSlot } from './pool.js';

export interface PinnedDeps {
  pool: WorkerPool;
  /** Work in flight, which a drain waits for. */
  inflight: Set<Promise<unknown>>;
  pump(): void;
  /** The budget of a task run for `agent` (a snapshot computes nothing, but a task carries one). */
  budget(agent: AgentRuntime): WireBudget;
}

export class PinnedTasks {
  /** Tasks waiting for one particular worker to be free, in order. */
  private readonly waiting = new Map<WorkerSlot, (() => void)[]>();

  constructor(private readonly deps: PinnedDeps) {}

  /** Queues the drop of the agent's instance on its worker; true if it had one. */
  detach(agent: AgentRuntime): boolean {
    const thread = agent.worker;
    if (thread === null) return false;
    const slot = this.deps.pool.slots.get(thread);
    agent.instanceGone(slot);
    if (!slot) return false;
    slot.unloads.push(agent.id);
    return true;
  }

  /**
   * The state of the agent's idle instance (worker/snapshot.ts), or null when it has none. The
   * caller holds the agent and waited for it to be idle.
   */
  async snapshotOf(agent: AgentRuntime): Promise<Uint8Array | null> {
    const thread = agent.worker;
    const slot = thread === null ? undefined : this.deps.pool.slots.get(thread);
    if (!slot) return null;
    const task = {
      op: 'snapshot' as const,
      agent: agent.id,
      generation: agent.record.generation,
      budget: this.deps.budget(agent),
    };
    const r = await this.run(slot, () => this.deps.pool.run(slot, task));
    if (r.kind === 'missing') return null;
    if (r.kind === 'error')
      throw new AgentOSError(
        'AOS_E_RESULT_TOO_LARGE',
        `cannot take the state of ${agent.id}: ${r.error.val}`,
        {
          agent: agent.id,
        },
      );
    if (r.kind !== 'ok' || !(r.value instanceof Uint8Array))
      throw new AgentOSError(
        'AOS_E_INTERNAL',
        `the snapshot of ${agent.id} failed: ${r.kind === 'crash' ? r.message : r.kind}`,
      );
    return r.value;
  }

  /** Runs `f` (a task on `slot`) once `slot` is free, before the worker is given anything else. */
  private run<T>(slot: WorkerSlot, f: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const waiting = this.waiting.get(slot) ?? [];
      waiting.push(() => this.occupy(slot, f().then(resolve, reject)));
      this.waiting.set(slot, waiting);
      this.runFree();
    });
  }

  /** A worker is gone: the tasks that waited for it run now, and fail (the worker is gone). */
  gone(slot: WorkerSlot): void {
    const waiting = this.waiting.get(slot) ?? [];
    this.waiting.delete(slot);
    for (const go of waiting) go();
  }

  /** Drops queued instances on every free worker, then starts a task waiting for one. */
  runFree(): void {
    for (const slot of this.deps.pool.slots.values()) {
      if (slot.unloads.length > 0 && !slot.busy) {
        const agents = slot.unloads.splice(0);
        this.occupy(
          slot,
          this.deps.pool.run(slot, { op: 'unload', agents }).catch(() => {}),
        );
      }
      const waiting = this.waiting.get(slot);
      if (waiting && waiting.length > 0 && !slot.busy) {
        waiting.shift()!();
        if (waiting.length === 0) this.waiting.delete(slot);
      }
    }
  }

  /** The worker is busy with `work` until it settles; then the executor pumps again. */
  private occupy(slot: WorkerSlot, work: Promise<unknown>): void {
    slot.busy = true;
    const p = work.finally(() => {
      this.deps.inflight.delete(p);
      slot.busy = false;
      this.deps.pump();
    });
    this.deps.inflight.add(p);
  }
}
