/**
 * The park channel: how a running invocation gives its CPU permit back. One small shared buffer
 * per worker, plus one word shared by the whole pool.
 *
 * At each fuel tick the worker's meter asks `shouldYield`: yes when the kernel asked this worker
 * to yield (a higher-priority agent waits), or when its slice is used up and some other work
 * waits for a permit (the pool-wide `wanted` word). Then `park` writes the fuel used so far,
 * flips STATE to PARKED and blocks in `Atomics.wait`; the wasm never notices. The kernel,
 * watching STATE with `Atomics.waitAsync`, takes the permit back, and later `resume`s it.
 *
 * @example
 * const ch = createParkChannel();                    // kernel side, per worker
 * watchParks(ch, (used) => scheduler.parked(used));  // called at each park
 * new Parker(ch, wanted).park(used);                 // worker side: blocks until resumed
 */

const STATE = 0;
const PREEMPT = 1;
/** Counts parks, so the kernel never mistakes a second park for the first. */
const SEQ = 2;
/** Which message of a batch the worker is running (its index). */
const CURRENT = 3;
/** Byte offset of a Float64: the fuel used so far by the parked call. */
const USED_OFFSET = 16;

const RUNNING = 0;
const PARKED = 1;
const CLOSED = 2;

export interface ParkChannel {
  readonly sab: SharedArrayBuffer;
}

export function createParkChannel(): ParkChannel {
  return { sab: new SharedArrayBuffer(24) };
}

/** The pool-wide count of work waiting for a permit (the kernel keeps it current). */
export function createWanted(): SharedArrayBuffer {
  return new SharedArrayBuffer(4);
}

/** Worker side. */
export class Parker {
  private readonly ctrl: Int32Array;
  private readonly used: Float64Array;
  private readonly wanted: Int32Array;
  /** Fuel a call may run before it yields to waiting work. */
  slice = 5_000_000;
  /** Times this worker parked (for tests and accounting). */
  parks = 0;

  constructor(channel: ParkChannel, wanted: SharedArrayBuffer) {
    this.ctrl = new Int32Array(channel.sab, 0, 4);
    this.used = new Float64Array(channel.sab, USED_OFFSET, 1);
    this.wanted = new Int32Array(wanted);
  }

  /** Marks message `index` of the current batch as the one running (hostcalls belong to it). */
  setCurrent(index: number): void {
    Atomics.store(this.ctrl, CURRENT, index);
  }

  shouldYield(sliceUsed: number): boolean {
    if (Atomics.load(this.ctrl, PREEMPT) === 1) return true;
    return sliceUsed >= this.slice && Atomics.load(this.wanted, 0) > 0;
  }

  /** Parks until the kernel resumes this worker; returns the ms spent parked. */
  park(usedSoFar: number): number {
    const t0 = performance.now();
    this.parks++;
    this.used[0] = usedSoFar;
    Atomics.store(this.ctrl, PREEMPT, 0);
    Atomics.store(this.ctrl, STATE, PARKED);
    Atomics.add(this.ctrl, SEQ, 1);
    Atomics.notify(this.ctrl, SEQ);
    while (Atomics.load(this.ctrl, STATE) === PARKED) Atomics.wait(this.ctrl, STATE, PARKED);
    return performance.now() - t0;
  }
}

/** Kernel side: the index of the batch message the worker is running. */
export function currentIndex(channel: ParkChannel): number {
  return Atomics.load(new Int32Array(channel.sab, 0, 4), CURRENT);
}

/** Kernel side: asks the worker to yield at its next tick. */
export function requestYield(channel: ParkChannel): void {
  Atomics.store(new Int32Array(channel.sab, 0, 4), PREEMPT, 1);
}

/** Kernel side: withdraws a yield request (its call ended before its next tick). */
export function clearYield(channel: ParkChannel): void {
  Atomics.store(new Int32Array(channel.sab, 0, 4), PREEMPT, 0);
}

/** Kernel side: lets a parked worker go on. */
export function resume(channel: ParkChannel): void {
  const ctrl = new Int32Array(channel.sab, 0, 4);
  Atomics.store(ctrl, PREEMPT, 0);
  Atomics.store(ctrl, STATE, RUNNING);
  Atomics.notify(ctrl, STATE);
}

/**
 * Kernel side: calls `onPark(usedSoFar)` each time the worker parks, until `stop()` (which also
 * releases a worker parked at that moment, so it can finish and exit).
 */
export function watchParks(channel: ParkChannel, onPark: (used: number) => void): { stop(): void } {
  const ctrl = new Int32Array(channel.sab, 0, 4);
  const used = new Float64Array(channel.sab, USED_OFFSET, 1);
  let stopped = false;
  let seen = Atomics.load(ctrl, SEQ);
  const loop = async (): Promise<void> => {
    while (!stopped) {
      const w = Atomics.waitAsync(ctrl, SEQ, seen);
      if (w.async) await w.value;
      const seq = Atomics.load(ctrl, SEQ);
      if (stopped || seq === seen) continue;
      seen = seq;
      onPark(used[0]!);
    }
  };
  void loop();
  return {
    stop() {
      stopped = true;
      Atomics.store(ctrl, STATE, CLOSED);
      Atomics.notify(ctrl, STATE);
      Atomics.add(ctrl, SEQ, 1);
      Atomics.notify(ctrl, SEQ);
    },
  };
}
