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

export interface Clock {
  /** Wall-clock milliseconds since the Unix epoch. */
  now(): bigint;
  /** Monotonic nanoseconds from an arbitrary origin. */
  monotonic(): bigint;
  /** Resolves once `ms` milliseconds of this clock have passed. */
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => BigInt(Date.now()),
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
  monotonic: () => hrtime.bigint(),
};

/**
 * The clock's wall time as a number of ms, as the kernel reads it several times per message:
 * for the system clock, `Date.now` itself (no bigint on the way).
 */
export function millis(clock: Clock): () => number {
  return clock === systemClock ? Date.now : () => Number(clock.now());
}

/** A clock that moves only when told to. */
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

  /** Moves both clocks forward by `ms` milliseconds, waking the sleeps that are due. */
  advance(ms: bigint): void {
    this.nowMs += ms;
    this.monoNs += ms * 1_000_000n;
    const due = this.sleepers.filter((s) => s.until <= this.nowMs);
    this.sleepers = this.sleepers.filter((s) => s.until > this.nowMs);
    for (const s of due) s.wake();
  }
}
