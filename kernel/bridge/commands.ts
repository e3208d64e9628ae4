/**
 * The command channel: the kernel hands a worker its next task over a SharedArrayBuffer, the
 * reverse of the hostcall channel. The worker waits in `Atomics.wait` between tasks (it has
 * nothing else to do); the kernel waits for the result with `Atomics.waitAsync`, so its event
 * loop stays free. It replaces a postMessage per invocation (structured clone, a task record,
 * an event-loop turn for the reply) with two Atomics wake-ups.
 *
 * @example
 * const sender = new CommandSender(createCommandBuffer());   // kernel side
 * const result = await sender.send({ op: 'unload', agents: ['a'] });
 * // worker side: await serveCommands(sab, (task) => run(task));
 */
import { CodecOverflow, decodeValue, encodeValue } from './codec.js';

const STATE = 0;
const LEN = 1;
const HEADER_BYTES = 64;

const IDLE = 0;
const TASK = 1;
const DONE = 2;
const STOP = 3;

export const DEFAULT_COMMAND_BYTES = 4 << 20;

export function createCommandBuffer(dataBytes = DEFAULT_COMMAND_BYTES): SharedArrayBuffer {
  return new SharedArrayBuffer(HEADER_BYTES + dataBytes);
}

/** Kernel side: one task at a time per worker (the executor never sends two). */
export class CommandSender {
  private readonly ctrl: Int32Array;
  private readonly data: Uint8Array;
  private failure: Error | null = null;
  private inFlight = false;

  constructor(readonly sab: SharedArrayBuffer) {
    this.ctrl = new Int32Array(sab, 0, HEADER_BYTES / 4);
    this.data = new Uint8Array(sab, HEADER_BYTES);
  }

  /** Runs `task` on the worker and resolves with its result. Rejects if the worker is gone. */
  async send(task: unknown): Promise<unknown> {
    const { ctrl, data } = this;
    if (this.failure) throw this.failure;
    // One task at a time: a second would overwrite the first in the shared buffer.
    if (this.inFlight) throw new Error('command channel busy: the worker is still running a task');
    let len: number;
    try {
      len = encodeValue(task, data, 0);
    } catch (e) {
      if (e instanceof CodecOverflow) throw new Error(`task exceeds the ${data.length}-byte command channel`);
      throw e;
    }
    ctrl[LEN] = len;
    this.inFlight = true;
    try {
      Atomics.store(ctrl, STATE, TASK);
      Atomics.notify(ctrl, STATE);
      for (;;) {
        const s = Atomics.load(ctrl, STATE);
        if (s === DONE) break;
        if (this.failure) throw this.failure;
        const w = Atomics.waitAsync(ctrl, STATE, s);
        if (w.async) await w.value;
      }
      const result = decodeValue(data.slice(0, ctrl[LEN]));
      Atomics.store(ctrl, STATE, IDLE);
      return result;
    } finally {
      this.inFlight = false;
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

/** Worker side: runs tasks until the kernel says stop. */
export async function serveCommands(sab: SharedArrayBuffer, run: (task: unknown) => unknown): Promise<void> {
  const ctrl = new Int32Array(sab, 0, HEADER_BYTES / 4);
  const data = new Uint8Array(sab, HEADER_BYTES);
  for (;;) {
    let s = Atomics.load(ctrl, STATE);
    while (s !== TASK && s !== STOP) {
      Atomics.wait(ctrl, STATE, s);
      s = Atomics.load(ctrl, STATE);
    }
    if (s === STOP) return;
    const task = decodeValue(data.slice(0, ctrl[LEN]));
    let result = await run(task);
    let len: number;
    try {
      len = encodeValue(result, data, 0);
    } catch (e) {
      result = {
        kind: 'crash',
        message: `the result cannot be returned: ${(e as Error).message}`,
        us: 0,
        thread: -1,
      };
      len = encodeValue(result, data, 0);
    }
    ctrl[LEN] = len;
    // The kernel may have said stop while the task ran: then nobody waits for this result.
    if (Atomics.compareExchange(ctrl, STATE, TASK, DONE) === STOP) return;
    Atomics.notify(ctrl, STATE);
  }
}
