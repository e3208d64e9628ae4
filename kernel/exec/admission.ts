/**
 * Admission: whether an agent with queued work may run now, and with what fuel budget. An agent
 * backing off after a crash, or whose window budget is spent, is woken when it may go again; one
 * whose lifetime budget is spent is suspended until the budget is raised (budgets.ts).
 *
 * @example
 * const admission = new Admission({ now, slice, wake, lifetimeSpent });
 * const budget = admission.admit(agent);   // null: not now
 * admission.clear();                       // closing: no more wake-ups
 */
import type { AgentRuntime } from '../agents/agent.js';
import type { Timers } from '../base/clock.js';
import { AgentOSError } from '../base/errors.js';
import type { StoredMessage } from '../store/message.js';
import type { WireBudget } from '../worker/protocol.js';
import { budgetFor } from './budgets.js';

export interface AdmissionDeps {
  now: () => number;
  /** Timers on the kernel clock (a backoff and a window end are kernel-clock times). */
  timers: Timers;
  /** Fuel per meter grant. */
  tick: number;
  /** Fuel a call runs before it yields to waiting work of its class. */
  slice: number;
  /** The agent may go now (its backoff or window ended). */
  wake: (agent: AgentRuntime) => void;
  /** Its lifetime budget is spent: suspend it, keeping `message` queued. */
  lifetimeSpent: (agent: AgentRuntime, message: StoredMessage, err: AgentOSError) => void;
}

export class Admission {
  private readonly timers = new Set<() => void>();

  constructor(private readonly deps: AdmissionDeps) {}

  /**
   * The budget of the agent's next call, or null when it may not run now: it is backing off or
   * its window budget is spent (it is woken when that ends), or its lifetime budget is (it is
   * suspended).
   */
  admit(agent: AgentRuntime): WireBudget | null {
    const now = this.deps.now();
    if (agent.retryAt > now) {
      this.later(agent, agent.retryAt - now);
      return null;
    }
    const b = budgetFor(agent, now, this.deps.tick, this.deps.slice);
    if ('fuel' in b) return b;
    if (b.blocked === 'window') {
      this.later(agent, b.until - now);
      return null;
    }
    const err = new AgentOSError(
      'AOS_E_FUEL_EXHAUSTED',
      `${agent.id} has used ${b.used} fuel, its lifetime budget of ${b.budget}; it is suspended until the budget is raised`,
      { used: b.used, budget: b.budget, budgetKind: 'lifetime' },
    );
    // Only agents with queued work are admitted.
    this.deps.lifetimeSpent(agent, agent.queue.head!, err);
    return null;
  }

  /** Cancels every pending wake-up (the kernel is closing). */
  clear(): void {
    for (const cancel of this.timers) cancel();
    this.timers.clear();
  }

  /** Wakes the agent after `ms` of the kernel clock. */
  private later(agent: AgentRuntime, ms: number): void {
    const cancel = this.deps.timers.after(Math.max(1, ms), () => {
      this.timers.delete(cancel);
      this.deps.wake(agent);
    });
    this.timers.add(cancel);
  }
}
