/**
 * The watchdog: a call past its deadline is ended even when no fuel tick comes. The meter checks
 * the deadline at every tick (worker/meter.ts), so a call that computes is stopped there; one
 * that does not reach a metering point (a loop the fuel pass missed, a long host-side copy, a
 * tick size too large) is stopped here: once it has run `graceMs` past its deadline (counting as
 * the meter does: time parked by preemption left out), its worker thread is terminated (V8 stops
 * a thread inside wasm), the call fails with AOS_E_DEADLINE (`details.watchdog`), and the pool
 * starts a replacement. The worker's other resident agents lose their instances only: nothing of
 * theirs was in flight, and their next message starts a fresh one.
 *
 * Deadlines measure real elapsed time: they limit a real resource (a core), like fuel, and the
 * outcome they cause is journaled, so a replay needs no clock for them.
 *
 * @example
 * const watchdog = new Watchdog({ scheduler, kill: (slot, why) => pool.kill(slot, why), graceMs: 1000 });
 * watchdog.start(); // ... watchdog.stop();
 */
import { setInterval } from 'node:timers';
import { currentIndex } from '../bridge/park.js';
import type { WorkerSlot } from './pool.js';
import type { Running, Scheduler } from './scheduler.js';

/** Why a worker was terminated: the call it ran and how long that call had run. */
export interface Killed {
  agent: string;
  /** The message of the command that ran (0 unless a batch). */
  index: number;
  ms: number;
  deadlineMs: number;
}

export interface WatchdogDeps {
  scheduler: Scheduler;
  /** Terminates the worker behind `slot` for `why`. */
  kill: (slot: WorkerSlot, why: Killed) => void;
  /** How far past its deadline a call may run before its worker is terminated (ms). */
  graceMs: number;
}

/** The call the watchdog saw last on a worker: which message, since when, parked how long before. */
interface Seen {
  running: Running;
  index: number;
  since: number;
  parkedBefore: number;
}

export class Watchdog {
  private timer: ReturnType<typeof setInterval> | undefined;
  private readonly seen = new Map<number, Seen>();

  constructor(private readonly deps: WatchdogDeps) {}

  /** Checks a few times per grace period. */
  start(): void {
    const every = Math.max(5, Math.min(100, Math.floor(this.deps.graceMs / 4)));
    this.timer = setInterval(() => this.check(performance.now()), every);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One pass over the running calls (public for tests with their own clock). */
  check(now: number): void {
    const running = this.deps.scheduler.running;
    for (const thread of this.seen.keys())
      if (running.get(thread) !== this.seen.get(thread)!.running) this.seen.delete(thread);
    for (const [thread, r] of running) {
      if (r.deadlineMs === null) continue;
      const index = currentIndex(r.slot.park);
      let seen = this.seen.get(thread);
      if (!seen || seen.index !== index) {
        // A batch's next message has its own deadline, from about when it was first seen.
        const since = seen || index > 0 ? now : r.startedAt;
        seen = { running: r, index, since, parkedBefore: r.parkedMs };
        this.seen.set(thread, seen);
      }
      if (r.parked || r.blocked) continue; // not computing now: the meter gets its chance first
      const ms = now - seen.since - (r.parkedMs - seen.parkedBefore);
      if (ms <= r.deadlineMs + this.deps.graceMs) continue;
      this.seen.delete(thread);
      this.deps.kill(r.slot, { agent: r.agent.id, index, ms: Math.round(ms), deadlineMs: r.deadlineMs });
    }
  }
}
