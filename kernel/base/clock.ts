/**
 * The kernel's time source. Every clock hostcall reads it (and the journal records what it
 * returned), so tests and replays can substitute a manual clock.
 *
 * @example
 * const clock = new ManualClock(1_700_000_000_000n);
 * clock.advance(5n);  // +5 ms
 * const kernel = await Kernel.open({ home, clock });
 */
import { hrtime } from 'node:process';
import { clearTimeout, setTimeout } from 'node:timers';

export interface Clock {
  /** Wall-clock milliseconds since the Unix epoch. */
  now(): bigint;
  /** Monotonic nanoseconds from an arbitrary origin. */
  monotonic(): bigint;
  /** Resolves once `ms` milliseconds of this clock have passed. */
  sleep(ms: number): Promise<void>;
  /**
   * Calls `f` once `ms` milliseconds of this clock have passed; returns what cancels it. Optional
   * for clocks an embedder writes: the kernel then builds it on `sleep` (see `timersOf`).
   */
  after?(ms: number, f: () => void): () => void;
}

/** Timers on the kernel clock: every timeout and wake-up the kernel acts on goes through one. */
export interface Timers {
  /** Calls `f` once `ms` ms of the kernel clock have passed; returns what cancels it. */
  after(ms: number, f: () => void): () => void;
}

export const systemClock: Clock = {
  now: () => BigInt(Date.now()),
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
  monotonic: () => hrtime.bigint(),
  after: (ms, f) => {
    // Never keeps the process alive by itself: the kernel's workers do while it is open.
    const t = setTimeout(f, Math.max(0, ms));
    t.unref();
    return () => clearTimeout(t);
  },
};

/** The clock's timers: its own `after`, or one built on its `sleep`. */
export function timersOf(clock: Clock): Timers {
  if (clock.after) return { after: clock.after.bind(clock) };
  return {
    after: (ms, f) => {
      let live = true;
      void clock.sleep(ms).then(() => {
        if (live) f();
      });
      return () => {
        live = false;
      };
    },
  };
}

/**
 * The clock's wall time as a number of ms, as the kernel reads it several times per message:
 * for the system clock, `Date.now` itself (no bigint on the way).
 */
export function millis(clock: Clock): () => number {
  return clock === systemClock ? Date.now : () => Number(clock.now());
}

/** A clock that moves only when told to: sleeps and timers fire as `advance` passes them. */
export class ManualClock implements Clock {
  private nowMs: bigint;
  private monoNs = 0n;
  private sleepers: { until: bigint; wake: () => void }[] = [];

  constructor(startMs = 0n) {
    this.nowMs = startMs;
  }

  now(): bigint {
    return this.nowMs;
  }

  monotonic(): bigint {
    return this.monoNs;
  }

  /** Resolves when `advance` has moved the clock `ms` forward. */
  sleep(ms: number): Promise<void> {
    const until = this.nowMs + BigInt(Math.ceil(ms));
    if (until <= this.nowMs) return Promise.resolve();
    return new Promise((wake) => this.sleepers.push({ until, wake }));
  }

  /** Calls `f` when `advance` has moved the clock `ms` forward (at once for 0 or less, on a later turn). */
  after(ms: number, f: () => void): () => void {
    const s = { until: this.nowMs + BigInt(Math.max(0, Math.ceil(ms))), wake: f };
    if (s.until <= this.nowMs) {
      let live = true;
      queueMicrotask(() => live && f());
      return () => {
        live = false;
      };
    }
    this.sleepers.push(s);
    return () => {
      this.sleepers = this.sleepers.filter((x) => x !== s);
    };
  }

  /** Sleeps and timers still waiting (for tests). */
  get pending(): number {
    return this.sleepers.length;
  }

  /** Moves both clocks forward by `ms` milliseconds, waking the sleeps and timers that are due, earliest first. */
  advance(ms: bigint): void {
    this.nowMs += ms;
    this.monoNs += ms * 1_000_000n;
    const due = this.sleepers.filter((s) => s.until <= this.nowMs).sort((a, b) => Number(a.until - b.until));
    this.sleepers = this.sleepers.filter((s) => s.until > this.nowMs);
    for (const s of due) s.wake();
  }
}
