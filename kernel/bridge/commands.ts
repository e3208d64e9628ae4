/**
 * The command channel: the kernel hands a worker its next task over a SharedArrayBuffer, the
 * reverse of the hostcall channel. The worker waits in `Atomics.wait` between tasks (it has
 * nothing else to do); the kernel waits for the result with `Atomics.waitAsync`, so its event
 * loop stays free. It replaces a postMessage per invocation (structured clone, a task record,
 * an event-loop turn for the reply) with two Atomics wake-ups.
 *
 * A task or result larger than the buffer goes over in chunks: each side writes one chunk,
 * the other copies it out and asks for the next (TASK_NEXT, RESULT_NEXT), up to the limits both
 * ends were given. Anything that fits — almost every call — takes the one-chunk path, encoded
 * straight into the shared buffer.
 *
 * @example
 * const sender = new CommandSender(createCommandBuffer(), { maxResultBytes: 32 << 20 }); // kernel
 * const result = await sender.send({ op: 'unload', agents: ['a'] });
 * // worker side: await serveCommands(sab, (task) => run(task), { maxResultBytes: 32 << 20 });
 */
import { CodecOverflow, decodeValue, encodeValue } from './codec.js';

const STATE = 0;
/** Bytes in the chunk now in the buffer. */
const LEN = 1;
/** Bytes of the whole task or result the chunk belongs to. */
const TOTAL = 2;
const HEADER_BYTES = 64;

const IDLE = 0;
/** A chunk of a task waits for the worker (the last one: the worker runs it). */
const TASK = 1;
/** A chunk of a result waits for the kernel. */
const DONE = 2;
const STOP = 3;
/** The worker copied a task chunk and wants the next. */
const TASK_NEXT = 4;
/** The kernel copied a result chunk and wants the next. */
const RESULT_NEXT = 5;

export const DEFAULT_COMMAND_BYTES = 4 << 20;

/** The most either side carries in one transfer: lengths travel in Int32 words. */
export const MAX_TRANSFER_BYTES = 1 << 30;

export function createCommandBuffer(dataBytes = DEFAULT_COMMAND_BYTES): SharedArrayBuffer {
  return new SharedArrayBuffer(HEADER_BYTES + dataBytes);
}

/** Thrown when a value is larger than the limit of its direction. */
export class TransferTooLarge extends Error {
  override readonly name = 'TransferTooLarge';
  constructor(
    readonly what: 'task' | 'result',
    readonly limit: number,
  ) {
    super(`the ${what} is larger than the ${limit}-byte command channel limit`);
  }
}

/**
 * Encodes `value` into the shared buffer when it fits (returns its length), else into a private
 * buffer of at most `max` bytes (returns the bytes, sent in chunks). Throws TransferTooLarge.
 */
function encode(value: unknown, data: Uint8Array, max: number, what: 'task' | 'result'): number | Uint8Array {
  let len = -1;
  try {
    len = encodeValue(value, data, 0);
  } catch (e) {
    if (!(e instanceof CodecOverflow)) throw e;
  }
  if (len > max) throw new TransferTooLarge(what, max);
  if (len >= 0) return len;
  if (data.length >= max) throw new TransferTooLarge(what, max);
  for (let size = Math.min(data.length * 2, max); ; size = Math.min(size * 2, max)) {
    const buf = new Uint8Array(size);
    try {
      return buf.subarray(0, encodeValue(value, buf, 0));
    } catch (e) {
      if (!(e instanceof CodecOverflow)) throw e;
      if (size >= max) throw new TransferTooLarge(what, max);
    }
  }
}

const limitOf = (n: number | undefined, what: string): number => {
  if (n === undefined) return MAX_TRANSFER_BYTES;
  if (!Number.isSafeInteger(n) || n < 1 || n > MAX_TRANSFER_BYTES)
    throw new RangeError(`${what} must be 1..${MAX_TRANSFER_BYTES}, got ${n}`);
  return n;
};

export interface SenderOptions {
  /** Largest task sent. Default MAX_TRANSFER_BYTES. */
  maxTaskBytes?: number;
  /** Largest result taken; a larger one is read to its end and refused. Default MAX_TRANSFER_BYTES. */
  maxResultBytes?: number;
}

/** Kernel side: one task at a time per worker (the executor never sends two). */
export class CommandSender {
  private readonly ctrl: Int32Array;
  private readonly data: Uint8Array;
  private readonly maxTask: number;
  private readonly maxResult: number;
  private failure: Error | null = null;
  private inFlight = false;

  constructor(
    readonly sab: SharedArrayBuffer,
    options: SenderOptions = {},
  ) {
    this.ctrl = new Int32Array(sab, 0, HEADER_BYTES / 4);
    this.data = new Uint8Array(sab, HEADER_BYTES);
    this.maxTask = limitOf(options.maxTaskBytes, 'maxTaskBytes');
    this.maxResult = limitOf(options.maxResultBytes, 'maxResultBytes');
  }

  /** Runs `task` on the worker and resolves with its result. Rejects if the worker is gone. */
  async send(task: unknown): Promise<unknown> {
    const { ctrl, data } = this;
    if (this.failure) throw this.failure;
    // One task at a time: a second would overwrite the first in the shared buffer.
    if (this.inFlight) throw new Error('command channel busy: the worker is still running a task');
    const encoded = encode(task, data, this.maxTask, 'task');
    this.inFlight = true;
    try {
      if (typeof encoded === 'number') {
        ctrl[TOTAL] = encoded;
        this.put(TASK, encoded);
      } else {
        ctrl[TOTAL] = encoded.length;
        for (let at = 0; at < encoded.length; at += data.length) {
          if (at > 0) await this.until(TASK_NEXT);
          const chunk = encoded.subarray(at, at + data.length);
          data.set(chunk);
          this.put(TASK, chunk.length);
        }
      }
      return await this.receive();
    } finally {
      this.inFlight = false;
    }
  }

  /** Reads the result, chunk by chunk; one over the limit is read to its end, then refused. */
  private async receive(): Promise<unknown> {
    const { ctrl, data } = this;
    await this.until(DONE);
    const total = ctrl[TOTAL]!;
    const refused = total > this.maxResult;
    if (total === ctrl[LEN] && !refused) {
      const result = decodeValue(data.slice(0, total));
      Atomics.store(ctrl, STATE, IDLE);
      return result;
    }
    const whole = refused ? null : new Uint8Array(total);
    for (let at = 0; ; ) {
      const len = ctrl[LEN]!;
      whole?.set(data.subarray(0, len), at);
      at += len;
      if (at >= total) break;
      this.put(RESULT_NEXT, null);
      await this.until(DONE);
    }
    Atomics.store(ctrl, STATE, IDLE);
    if (!whole)
      throw new Error(`the worker sent a ${total}-byte result, over the ${this.maxResult}-byte limit`);
    return decodeValue(whole);
  }

  private put(state: number, len: number | null): void {
    if (len !== null) this.ctrl[LEN] = len;
    Atomics.store(this.ctrl, STATE, state);
    Atomics.notify(this.ctrl, STATE);
  }

  /** Waits until the worker moves the channel to `state`; throws if the worker is gone. */
  private async until(state: number): Promise<void> {
    for (;;) {
      const s = Atomics.load(this.ctrl, STATE);
      if (s === state) return;
      if (this.failure) throw this.failure;
      const w = Atomics.waitAsync(this.ctrl, STATE, s);
      if (w.async) await w.value;
    }
  }

  /** The worker died or is being stopped: fail the task in flight and every later one. */
  fail(error: Error): void {
    this.failure ??= error;
    Atomics.notify(this.ctrl, STATE);
  }

  /** Asks the worker's loop to return (its piscina task then ends). */
  stop(): void {
    this.fail(new Error('the worker was stopped'));
    Atomics.store(this.ctrl, STATE, STOP);
    Atomics.notify(this.ctrl, STATE);
  }
}

export interface ServeOptions {
  /** Largest result sent (in chunks past the buffer). Default MAX_TRANSFER_BYTES. */
  maxResultBytes?: number;
  /**
   * What to send instead of a result that cannot be carried (over the limit, or not encodable):
   * the caller keeps what it must of the result (its usage figures). Default: a `crash` result
   * with the figures of `result` that are numbers.
   */
  unsendable?: (result: unknown, why: string) => unknown;
  /**
   * Work for idle moments: called while no task waits, before the worker blocks; true when it
   * did some (it is called again if still no task waits), false when it has none. Each call
   * should be short: a task sent meanwhile waits for it.
   */
  idle?: (waiting: () => boolean) => boolean;
}

/** The fallback when the caller gave no `unsendable`: numeric usage figures are kept. */
function crashFor(result: unknown, why: string): unknown {
  const r = (result ?? {}) as Record<string, unknown>;
  const out: Record<string, unknown> = { kind: 'crash', message: why, us: 0, thread: -1 };
  for (const k of ['us', 'thread', 'fuel', 'memory'])
    if (typeof r[k] === 'number' && Number.isFinite(r[k])) out[k] = r[k];
  return out;
}

/** Worker side: runs tasks until the kernel says stop. */
export async function serveCommands(
  sab: SharedArrayBuffer,
  run: (task: unknown) => unknown,
  options: ServeOptions = {},
): Promise<void> {
  const ctrl = new Int32Array(sab, 0, HEADER_BYTES / 4);
  const data = new Uint8Array(sab, HEADER_BYTES);
  const max = limitOf(options.maxResultBytes, 'maxResultBytes');
  const unsendable = options.unsendable ?? crashFor;

  /** Waits while the channel is not in `state`; false when the kernel said stop. */
  const until = (state: number): boolean => {
    for (let s = Atomics.load(ctrl, STATE); s !== state; s = Atomics.load(ctrl, STATE)) {
      if (s === STOP) return false;
      Atomics.wait(ctrl, STATE, s);
    }
    return true;
  };
  /** Moves the channel from `from` to `to`; false when the kernel said stop meanwhile. */
  const move = (from: number, to: number): boolean => {
    if (Atomics.compareExchange(ctrl, STATE, from, to) !== from) return false;
    Atomics.notify(ctrl, STATE);
    return true;
  };

  const idle = options.idle;
  const waiting = (): boolean => {
    const s = Atomics.load(ctrl, STATE);
    return s === TASK || s === STOP;
  };

  for (;;) {
    if (idle) while (!waiting() && idle(waiting)) {}
    if (!until(TASK)) return;
    const total = ctrl[TOTAL]!;
    let bytes: Uint8Array;
    if (ctrl[LEN] === total) bytes = data.slice(0, total);
    else {
      bytes = new Uint8Array(total);
      for (let at = 0; ; ) {
        const len = ctrl[LEN]!;
        bytes.set(data.subarray(0, len), at);
        at += len;
        if (at >= total) break;
        if (!move(TASK, TASK_NEXT) || !until(TASK)) return;
      }
    }
    const result = await run(decodeValue(bytes));
    let encoded: number | Uint8Array;
    try {
      encoded = encode(result, data, max, 'result');
    } catch (e) {
      const why = `the result cannot be returned: ${(e as Error).message}`;
      try {
        encoded = encode(unsendable(result, why), data, max, 'result');
      } catch {
        encoded = encode(crashFor(result, why), data, max, 'result');
      }
    }
    // The kernel may have said stop while the task ran: then nobody waits for this result.
    if (typeof encoded === 'number') {
      ctrl[LEN] = encoded;
      ctrl[TOTAL] = encoded;
      if (!move(TASK, DONE)) return;
      continue;
    }
    ctrl[TOTAL] = encoded.length;
    for (let at = 0; at < encoded.length; at += data.length) {
      if (at > 0 && !until(RESULT_NEXT)) return;
      const chunk = encoded.subarray(at, at + data.length);
      data.set(chunk);
      ctrl[LEN] = chunk.length;
      if (!move(at === 0 ? TASK : RESULT_NEXT, DONE)) return;
    }
  }
}
