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
}

export const systemClock: Clock = {
  now: () => BigInt(Date.now()),
  monotonic: () => hrtime.bigint(),
};

/** A clock that moves only when told to. */
export class ManualClock implements Clock {
  private nowMs: bigint;
  private monoNs = 0n;

  constructor(startMs = 0n) {
    this.nowMs = startMs;
  }

  now(): bigint {
    return this.nowMs;
  }

  monotonic(): bigint {
    return this.monoNs;
  }

  /** Moves both clocks forward by `ms` milliseconds. */
  advance(ms: bigint): void {
    this.nowMs += ms;
    this.monoNs += ms * 1_000_000n;
  }
}
