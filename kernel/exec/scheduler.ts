/**
 * The scheduler's bookkeeping: CPU permits, who runs and who is parked, and the order in which
 * waiting work gets a permit.
 *
 * - A call needs a permit to start; there are `permits` of them (default: the cores), fewer than
 *   the workers, so a parked or blocked worker never leaves a core idle.
 * - Order: priority class first (interactive, normal, batch, idle), then virtual time, the fuel
 *   an agent has used divided by its weight, so agents of one class share the CPU in
 *   proportion to their weights. An agent that becomes runnable again starts no earlier than
 *   the class's virtual-time floor, so sleeping does not bank CPU.
 * - Preemption: when work of a higher class waits and no permit is free, the lowest running call
 *   is asked to yield at its next fuel tick; a call whose slice is spent yields whenever anything
 *   waits. A yielding call parks its worker (bridge/park.ts) and gives its permit back; it goes
 *   on later where it stopped.
 *
 * @example
 * const s = new Scheduler(2, wanted);
 * candidates.sort((a, b) => s.before(a, b));
 * s.start(agent, slot, deadlineMs); s.park(slot, used); s.resume(entry); s.finish(slot, fuel);
 */
import type { AgentRuntime } from '../agents/agent.js';
import { PRIORITIES } from '../base/limits.js';
import { clearYield, requestYield, resume } from '../bridge/park.js';
import type { WorkerSlot } from './pool.js';

/**
 * A call holding a worker: running (with a permit), parked (preempted, or done blocking: it
 * waits for a permit), or blocked in a hostcall (no permit, not ready to go on).
 */
export interface Running {
  agent: AgentRuntime;
  slot: WorkerSlot;
  parked: boolean;
  blocked: boolean;
  /** How a parked call goes on: answer its blocking hostcall; null: unpark its worker. */
  wake: (() => void) | null;
  /** performance.now() when it blocked. */
  blockedAt: number;
  /** Fuel of this call already charged to the agent's virtual time. */
  charged: number;
  /** performance.now() when it last parked. */
  parkedAt: number;
  /** Asked to yield and not yet parked. */
  yieldAsked: boolean;
  /** performance.now() when the command started, and its per-call wall-clock limit (ms) or null. */
  startedAt: number;
  deadlineMs: number | null;
  /** Time it spent parked by preemption (ms), which a deadline leaves out (the meter does too). */
  parkedMs: number;
}

export const rank = (a: AgentRuntime): number => PRIORITIES.indexOf(a.record.priority);

export class Scheduler {
  free: number;
  readonly running = new Map<number, Running>();
  private readonly floor = new Map<string, number>();
  private readonly wanted: Int32Array;

  constructor(
    readonly permits: number,
    wanted: SharedArrayBuffer,
  ) {
    this.free = permits;
    this.wanted = new Int32Array(wanted);
  }

  /** Parked calls, in no particular order. */
  parked(): Running[] {
    return [...this.running.values()].filter((r) => r.parked);
  }

  /** Whether some call waits in a blocking hostcall (it holds a worker, not a permit). */
  anyBlocked(): boolean {
    for (const r of this.running.values()) if (r.blocked) return true;
    return false;
  }

  /** An agent that becomes runnable starts at its class's floor at the earliest. */
  wake(agent: AgentRuntime): void {
    agent.vtime = Math.max(agent.vtime, this.floor.get(agent.record.priority) ?? 0);
  }

  /** Class first, then virtual time. */
  before(a: AgentRuntime, b: AgentRuntime): number {
    return rank(a) - rank(b) || a.vtime - b.vtime;
  }

  private charge(r: Running, used: number): void {
    const delta = used - r.charged;
    if (delta <= 0) return;
    r.charged = used;
    r.agent.vtime += delta / r.agent.record.weight;
    const p = r.agent.record.priority;
    this.floor.set(p, Math.max(this.floor.get(p) ?? 0, Math.min(...this.vtimes(p))));
  }

  private vtimes(priority: string): number[] {
    const out: number[] = [];
    for (const r of this.running.values()) if (r.agent.record.priority === priority) out.push(r.agent.vtime);
    return out;
  }

  /** A call starts on `slot`, taking a permit; `deadlineMs`: its wall-clock limit per call. */
  start(agent: AgentRuntime, slot: WorkerSlot, deadlineMs: number | null = null): void {
    this.free--;
    clearYield(slot.park);
    this.running.set(slot.thread, {
      agent,
      slot,
      parked: false,
      blocked: false,
      wake: null,
      blockedAt: 0,
      charged: 0,
      parkedAt: 0,
      yieldAsked: false,
      startedAt: performance.now(),
      deadlineMs,
      parkedMs: 0,
    });
  }

  /** The call on `slot` parked after using `used` fuel: its permit is free. */
  park(slot: WorkerSlot, used: number): Running | undefined {
    const r = this.running.get(slot.thread);
    if (!r || r.parked) return undefined;
    this.charge(r, used);
    r.parked = true;
    r.yieldAsked = false;
    r.parkedAt = performance.now();
    r.agent.record.stats.parks += 1;
    r.wake = null;
    this.free++;
    return r;
  }

  /** The call on `slot` blocked in a hostcall: its permit is free until it unblocks. */
  block(slot: WorkerSlot): void {
    const r = this.running.get(slot.thread);
    if (!r || r.parked || r.blocked) return;
    r.blocked = true;
    r.blockedAt = performance.now();
    this.free++;
  }

  /**
   * The blocking hostcall on `slot` is done: the call waits for a permit like a parked one, and
   * `wake` (answering the hostcall) lets it go on. False if no call is known there.
   */
  unblock(slot: WorkerSlot, wake: () => void): boolean {
    const r = this.running.get(slot.thread);
    if (!r?.blocked) return false;
    r.blocked = false;
    r.agent.record.stats.blockedUs += Math.round((performance.now() - r.blockedAt) * 1000);
    r.parked = true;
    r.parkedAt = performance.now();
    r.wake = wake;
    return true;
  }

  /** A parked call goes on, taking a permit. */
  resume(r: Running): void {
    this.free--;
    r.parked = false;
    const ms = performance.now() - r.parkedAt;
    r.agent.record.stats.parkedUs += Math.round(ms * 1000);
    // A preempted call's wait is not its own time; an answered hostcall's wait (wake) is.
    if (!r.wake) r.parkedMs += ms;
    const wake = r.wake;
    r.wake = null;
    if (wake) wake();
    else resume(r.slot.park);
  }

  /** The call on `slot` ended having used `fuel` in all; its permit is free. */
  finish(slot: WorkerSlot, fuel: number): void {
    const r = this.running.get(slot.thread);
    if (!r) return;
    this.charge(r, fuel);
    this.running.delete(slot.thread);
    clearYield(slot.park);
    if (!r.parked && !r.blocked) this.free++;
  }

  /**
   * Publishes how much work waits for a permit, and asks running calls of a lower class than
   * the best waiting one to yield (one per waiting call, lowest first).
   */
  waiting(count: number, best: AgentRuntime | undefined): void {
    Atomics.store(this.wanted, 0, count);
    if (!best || count === 0) return;
    const lower = [...this.running.values()]
      .filter((r) => !r.parked && !r.blocked && !r.yieldAsked && rank(r.agent) > rank(best))
      .sort((a, b) => this.before(b.agent, a.agent));
    for (const r of lower.slice(0, count)) {
      r.yieldAsked = true;
      requestYield(r.slot.park);
    }
  }

  /** Lets every parked call go on regardless of permits (the kernel is closing). */
  releaseAll(): void {
    for (const r of this.parked()) this.resume(r);
  }
}
