/**
 * The executor: picks runnable agents, hands their next message to the worker that holds (or
 * will hold) their instance, and settles the outcome — journal, ack, accounting, waiters.
 *
 * One invocation per agent at a time, FIFO per agent. Who goes next is the scheduler's call
 * (scheduler.ts: CPU permits, priority classes, virtual time, preemption by parking). An agent's
 * instance is pinned to its worker; an agent without one takes the least-loaded free worker.
 */

import { type AgentRuntime, terminated } from '../agents/agent.js';
import type { Timers } from '../base/clock.js';
import { AgentOSError } from '../base/errors.js';
import type { WireBudget } from '../worker/protocol.js';
import { Admission } from './admission.js';
import { budgetFor } from './budgets.js';
import { Delivery, type DeliveryDeps, lostResult } from './delivery.js';
import { type InstanceDeps, Instances } from './instances.js';
import { type OutcomeDeps, Outcomes, startError } from './outcomes.js';
import { PinnedTasks } from './pinned.js';
import { type Candidate, movable, placeOf } from './placement.js';
import type { WorkerSlot } from './pool.js';
import { type Queued, RunQueue } from './run-queue.js';
import type { Scheduler } from './scheduler.js';

export interface ExecutorDeps extends OutcomeDeps, InstanceDeps, DeliveryDeps {
  /** Deliver nothing (the kernel was opened to look, not to run). */
  paused?: boolean;
  /** A terminated agent's last call ended: the capabilities forget what they kept for it. */
  forget: (agent: AgentRuntime) => void;
  scheduler: Scheduler;
  /** Fuel a call runs before it yields to waiting work of its class. */
  slice: number;
  /** Timers on the kernel clock. */
  timers: Timers;
  /** Fuel per meter grant: how often a running call checks in (deadline, preemption). */
  tick: number;
}

export class Executor {
  private readonly runQueue = new RunQueue();
  private readonly inflight = new Set<Promise<unknown>>();
  private stopped = false;
  /** Spawns waiting for a free worker, in arrival order (handSlots gives them one). */
  private readonly spawns: ((slot: WorkerSlot | null) => void)[] = [];
  private pumping = false;
  private again = false;
  private readonly outcomes: Outcomes;
  private readonly instances: Instances;
  private readonly delivery: Delivery;
  private readonly admission: Admission;
  private readonly pinned: PinnedTasks;

  constructor(private readonly deps: ExecutorDeps) {
    this.outcomes = new Outcomes(deps);
    this.instances = new Instances(deps);
    this.delivery = new Delivery(deps, this.instances, this.outcomes);
    this.pinned = new PinnedTasks({
      pool: deps.pool,
      inflight: this.inflight,
      pump: () => this.pump(),
      budget: (agent) => budgetFor(agent, deps.now(), deps.tick, deps.slice) as WireBudget,
    });
    this.admission = new Admission({
      now: deps.now,
      timers: deps.timers,
      tick: deps.tick,
      slice: deps.slice,
      wake: (agent) => this.wake(agent),
      lifetimeSpent: (agent, message, err) => this.outcomes.lifetimeSpent(agent, message, err),
    });
  }

  /** A hostcall is about to be served on `slot`: a batch message making it is journaled first. */
  beforeHostcall(slot: WorkerSlot, index?: number): void {
    this.delivery.beforeHostcall(slot, index);
  }

  /** Notes that `agent` may have work; dispatches whatever can run now. */
  wake(agent: AgentRuntime): void {
    if (agent.runnable && !this.runQueue.has(agent)) {
      this.deps.scheduler.wake(agent);
      this.runQueue.add(agent);
    }
    this.pump();
  }

  /** The call on `slot` blocked in a hostcall: its permit goes to others. */
  blocked(slot: WorkerSlot): void {
    this.deps.scheduler.block(slot);
    this.pump();
  }

  /** The blocking hostcall on `slot` is done; `wake` answers it once the call has a permit. */
  unblocked(slot: WorkerSlot, wake: () => void): void {
    if (this.stopped || !this.deps.scheduler.unblock(slot, wake)) {
      wake();
      return;
    }
    this.pump();
  }

  /**
   * An agent terminated while a call was in flight: whatever that call did not settle (the
   * rest of a batch) is dropped now, and its senders told.
   */
  private dropLeftovers(agent: AgentRuntime): void {
    agent.inFlight = 0;
    this.dropQueued(agent, 0);
  }

  /**
   * Drops the terminated agent's queued messages from position `from` on; their senders are
   * told, with `error` (default: the agent is terminated, or exported).
   */
  dropQueued(agent: AgentRuntime, from: number, error = terminated(agent.id, agent.record.exported)): void {
    const left = agent.queue.cut(from);
    this.deps.mailboxes.drop(agent.id, left);
    for (const m of left) agent.takeWaiter(m.id)?.reject(error);
  }

  /** The agent's call in flight: fuel as of its last park, and whether it is parked. */
  running(id: string): { fuel: number; parked: boolean; blocked: boolean } | null {
    for (const r of this.deps.scheduler.running.values())
      if (r.agent.id === id) return { fuel: r.charged, parked: r.parked, blocked: r.blocked };
    return null;
  }

  /**
   * The agent whose call holds the worker `thread` (parked and blocked calls included), whose
   * hostcalls and posted calls that worker's channels carry; undefined between calls.
   */
  ownerOf(thread: number): AgentRuntime | undefined {
    return this.deps.scheduler.running.get(thread)?.agent;
  }

  /**
   * A call of `agent` takes `slot` (and a CPU permit) until `vacate`: the one place a call's
   * hold on a worker begins. `deadlineMs`: its wall-clock limit.
   */
  private occupy(agent: AgentRuntime, slot: WorkerSlot, deadlineMs: number | null): void {
    agent.busy = true;
    slot.busy = true;
    this.deps.scheduler.start(agent, slot, deadlineMs);
  }

  /** The call on `slot` ended having used `fuel`: the agent and the worker are free again. */
  private vacate(agent: AgentRuntime, slot: WorkerSlot, fuel: number): void {
    this.deps.scheduler.finish(slot, fuel);
    agent.inFlight = 0;
    agent.lastActive = this.deps.now();
    slot.busy = false;
    agent.freed();
  }

  /** The call on `slot` parked (preempted) after using `used` fuel: its permit goes on. */
  parked(slot: WorkerSlot, used: number): void {
    const r = this.deps.scheduler.park(slot, used);
    if (!r) return;
    // Closing: nothing is scheduled any more, so a call that parks goes on at once.
    if (this.stopped) this.deps.scheduler.resume(r);
    else this.pump();
  }

  /**
   * Hands free workers to spawns waiting for one, first come first served, before any message
   * is dispatched; with none free, the pool grows if blocked calls hold them all.
   */
  private handSlots(): void {
    if (this.spawns.length > 0 && !this.stopped) this.pinned.runFree();
    while (this.spawns.length > 0) {
      if (this.stopped) {
        for (const r of this.spawns.splice(0)) r(null);
        return;
      }
      const slot = this.deps.pool.freeSlot();
      if (!slot) {
        if (this.deps.scheduler.anyBlocked()) this.deps.pool.grow();
        return;
      }
      slot.busy = true;
      this.spawns.shift()!(slot);
    }
  }

  pump(): void {
    this.handSlots();
    if (this.stopped || this.deps.paused) return;
    // A dispatch can wake agents (a reply, an event to a subscriber) and so call pump again;
    // the nested call only asks this one to go round once more.
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.again = false;
        this.pumpOnce();
      } while (this.again && !this.stopped);
    } finally {
      this.pumping = false;
    }
  }

  /** Runs `f`, which may wake many agents (a drain of posted sends), and pumps once after it. */
  coalesce(f: () => void): void {
    if (this.pumping) {
      f(); // inside a pump already: its loop goes round again
      return;
    }
    this.pumping = true;
    try {
      f();
    } finally {
      this.pumping = false;
      this.pump(); // even if f threw: what it queued before still goes
    }
  }

  /**
   * Hands out free permits: parked calls and runnable agents, by priority class then virtual
   * time (scheduler.ts), looking only at the agents it takes from the run queue (run-queue.ts).
   * What cannot get a permit is counted as waiting, so running calls yield; counting stops
   * past the running calls, which are all that could yield to it.
   */
  private pumpOnce(): void {
    this.pinned.runFree();
    const s = this.deps.scheduler;
    const parked = s.parked().sort((a, b) => s.before(a.agent, b.agent));
    const aside: Queued[] = [];
    let waiting = 0;
    let best: AgentRuntime | undefined;
    let unplaced = false;
    const enough = s.running.size + 1;
    while (waiting < enough) {
      // The better of the best parked call and the best queued agent (queued first among equals).
      const head = this.runQueue.peek();
      const p = parked[0];
      const c: Candidate | undefined =
        p && (!head || s.before(p.agent, head) < 0)
          ? { agent: parked.shift()!.agent, parked: p }
          : this.admitNext();
      if (!c) {
        if (!head && !p) break;
        continue; // the head could not run now (dropped from the queue): look again
      }
      const slot = c.parked ? c.parked.slot : placeOf(c.agent, this.deps.pool, this.deps.scheduler);
      if (!slot) {
        // Growing helps only an agent that would take any free worker (not one waiting for
        // its own worker, busy with a call that will end).
        if (!c.parked && movable(c.agent, this.deps.pool, this.deps.scheduler)) unplaced = true;
        if (c.queued) aside.push(c.queued);
        continue;
      }
      if (c.parked && !c.parked.parked) continue; // taken meanwhile
      if (s.free <= 0) {
        waiting++;
        best ??= c.agent;
        if (c.queued) aside.push(c.queued);
      } else if (c.parked) s.resume(c.parked);
      else this.dispatch(c.agent, slot, c.budget!);
    }
    for (const q of aside) if (q.agent.runnable) this.runQueue.putBack(q);
    s.waiting(waiting, best);
    // Work waits for a worker while permits are free: blocked calls hold the workers (an
    // ipc.call chain). One more worker lets the chain go on (the pool grows up to maxWorkers).
    if (unplaced && s.free > 0 && !this.deps.pool.freeSlot() && s.anyBlocked()) this.deps.pool.grow();
  }

  /**
   * Takes the best queued agent with its budget, or undefined when the queue is empty or that
   * agent may not run now (it is dropped from the queue: admission wakes it when it may go).
   */
  private admitNext(): Candidate | undefined {
    const q = this.runQueue.pop();
    if (!q?.agent.runnable) return undefined;
    const budget = this.admission.admit(q.agent);
    return budget ? { agent: q.agent, budget, queued: q } : undefined;
  }

  private dispatch(agent: AgentRuntime, slot: WorkerSlot, budget: WireBudget): void {
    if (agent.worker !== null && agent.worker !== slot.thread) this.pinned.detach(agent);
    this.runQueue.delete(agent);
    this.occupy(agent, slot, budget.deadlineMs);
    agent.inFlight = 1;
    const used = { fuel: 0 };
    const p = this.delivery
      .handOver(agent, slot, budget, used)
      .then(() => {
        if (agent.record.state === 'terminated') {
          this.dropLeftovers(agent);
          this.release(agent);
          this.deps.forget(agent);
        }
      })
      .finally(() => {
        this.inflight.delete(p);
        this.vacate(agent, slot, used.fuel);
        if (agent.runnable) this.wake(agent);
        else this.pump();
      });
    this.inflight.add(p);
  }

  /**
   * Drops the agent's resident instance when its worker is next free. Tasks are only ever given
   * to free workers: piscina's queue stops at the first task it cannot place, so a task pinned
   * to a busy worker would hold up every other worker.
   */
  release(agent: AgentRuntime): void {
    if (this.pinned.detach(agent)) this.pump();
  }

  /** The state of the agent's idle instance, taken on its worker (pinned.ts), or null: none. */
  snapshotOf(agent: AgentRuntime): Promise<Uint8Array | null> {
    return this.pinned.snapshotOf(agent);
  }

  /** A worker is gone: the tasks that waited for it fail. */
  workerGone(slot: WorkerSlot): void {
    this.pinned.gone(slot);
  }

  /**
   * Stops dispatching and waits (up to `ms`) for invocations in flight. Returns false if some
   * did not finish: their outcomes will be dropped and their messages stay queued.
   */
  async drain(ms: number): Promise<boolean> {
    this.stopped = true;
    this.handSlots(); // spawns waiting for a worker are told the kernel closed
    // Parked calls go on, so they can finish within the close timeout; nothing waits any more.
    this.deps.scheduler.waiting(0, undefined);
    this.deps.scheduler.releaseAll();
    this.admission.clear();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const done = await Promise.race([
      Promise.allSettled([...this.inflight]).then(() => true),
      new Promise<false>((r) => {
        timer = setTimeout(() => r(false), ms);
      }),
    ]);
    clearTimeout(timer);
    if (!done) this.outcomes.abandoned = true;
    return done;
  }

  /**
   * Starts the agent's first instance on any free worker, so init errors reach the spawner.
   * Returns the error, or null when the instance is up.
   */
  async startFirst(
    agent: AgentRuntime,
    reason: 'spawn' | 'upgrade' | 'fork' | 'import' | 'restart' = 'spawn',
    snapshot?: Uint8Array,
  ): Promise<AgentOSError | null> {
    // Busy from the start: a message that arrives while it waits for a worker (a broadcast)
    // must not be dispatched on another worker meanwhile.
    agent.busy = true;
    // A free worker now, or the next one that frees (handSlots, at each pump).
    const slot = await new Promise<WorkerSlot | null>((r) => {
      this.spawns.push(r);
      this.handSlots();
    });
    if (!slot) {
      agent.freed();
      return new AgentOSError('AOS_E_KERNEL_CLOSED', `the kernel closed during ${reason}`);
    }
    // A new agent has spent nothing, so no budget blocks its first start.
    const budget = budgetFor(agent, this.deps.now(), this.deps.tick, this.deps.slice) as WireBudget;
    // init computes too: it holds a permit (even past the count: spawn does not queue) and can
    // be preempted like any call.
    this.occupy(agent, slot, budget.deadlineMs);
    let fuel = 0;
    const started = this.instances.start(agent, slot, reason, budget, snapshot);
    this.inflight.add(started);
    try {
      const r = await started;
      if (r.kind !== 'missing') fuel = r.fuel;
      return r.kind === 'ok' ? null : startError(agent.id, r);
    } catch (e) {
      agent.instanceGone(slot);
      return startError(agent.id, lostResult(agent, slot, e, budget));
    } finally {
      this.inflight.delete(started);
      this.vacate(agent, slot, fuel);
      // Terminated while it started: its instance goes. Messages that reached it meanwhile
      // (a broadcast) run now: nothing else would wake it.
      if (agent.record.state === 'terminated') {
        this.release(agent);
        this.deps.forget(agent);
      }
      if (agent.runnable) this.wake(agent);
      else this.pump();
    }
  }
}
