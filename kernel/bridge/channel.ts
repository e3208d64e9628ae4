/**
 * The hostcall channel: a worker calls the kernel synchronously over one SharedArrayBuffer.
 *
 * The worker writes the call (function id + encoded arguments), flips STATE to REQUEST, wakes
 * the kernel and blocks in `Atomics.wait`. The kernel, waiting with `Atomics.waitAsync` so its
 * event loop stays free, serves the call, writes the result, flips STATE to RESPONSE and wakes
 * the worker. One channel per worker thread: a worker runs one invocation at a time, so the
 * kernel always knows which agent is on the other end without trusting the worker to say so.
 *
 * @example
 * const ch = createChannel();                   // kernel side
 * serveChannel(ch, (fn, args) => ({ status: Status.Ok, value: 42 }));
 * new HostcallClient(ch).call(3, ['x']);         // worker side: 42
 */
import { CodecOverflow, decodeValue, encodeValue } from './codec.js';

/** Control words (Int32 indices) at the start of the buffer. */
const STATE = 0;
const FN = 1;
const LEN = 2;
const STATUS = 3;
/** Length of the aside, encoded right after the value (0: none). */
const ASIDE = 4;
const HEADER_BYTES = 64;

const IDLE = 0;
const REQUEST = 1;
const RESPONSE = 2;
const CLOSED = 3;

/** How a hostcall ended. */
export enum Status {
  /** `value` is the function's result. */
  Ok = 0,
  /** `value` is a WIT `error` variant ({ tag, val }) for the guest. */
  GuestError = 1,
  /** `value` is a message: the kernel failed; the invocation must end. */
  Fault = 2,
}

export interface Channel {
  readonly sab: SharedArrayBuffer;
}

/** The default data capacity: room for a 1 MiB value (the largest a capability accepts) and more. */
export const DEFAULT_CHANNEL_BYTES = 4 << 20;

export function createChannel(dataBytes = DEFAULT_CHANNEL_BYTES): Channel {
  return { sab: new SharedArrayBuffer(HEADER_BYTES + dataBytes) };
}

/** Worker side. */
export class HostcallClient {
  private readonly ctrl: Int32Array;
  private readonly data: Uint8Array;

  constructor(channel: Channel) {
    this.ctrl = new Int32Array(channel.sab, 0, HEADER_BYTES / 4);
    this.data = new Uint8Array(channel.sab, HEADER_BYTES);
  }

  /**
   * Calls kernel function `fn` and blocks until it answers.
   * Returns `{ status, value }`; the caller maps a GuestError to jco's `{ payload }` throw.
   */
  call(fn: number, args: unknown[]): { status: Status; value: unknown; aside?: unknown } {
    const { ctrl, data } = this;
    let len: number;
    try {
      len = encodeValue(args, data, 0);
    } catch (e) {
      if (e instanceof CodecOverflow) {
        return {
          status: Status.GuestError,
          value: { tag: 'quota-exceeded', val: `arguments exceed the ${data.length}-byte hostcall limit` },
        };
      }
      throw e;
    }
    ctrl[FN] = fn;
    ctrl[LEN] = len;
    Atomics.store(ctrl, STATE, REQUEST);
    Atomics.notify(ctrl, STATE);
    let s = Atomics.load(ctrl, STATE);
    while (s === REQUEST) {
      Atomics.wait(ctrl, STATE, REQUEST);
      s = Atomics.load(ctrl, STATE);
    }
    if (s === CLOSED) return { status: Status.Fault, value: 'the kernel closed the hostcall channel' };
    const status = ctrl[STATUS] as Status;
    // Decode from a private copy: TextDecoder refuses views of shared memory.
    const end = ctrl[LEN]!;
    const value = decodeValue(data.slice(0, end));
    const asideLen = ctrl[ASIDE]!;
    const aside = asideLen > 0 ? decodeValue(data.slice(end, end + asideLen)) : undefined;
    Atomics.store(ctrl, STATE, IDLE);
    return asideLen > 0 ? { status, value, aside } : { status, value };
  }
}

/** What the kernel's handler returns for one call. */
export interface Served {
  status: Status;
  value: unknown;
  /**
   * For the worker, not the guest: what the kernel tells the worker's side of a capability with
   * this answer (a credit to answer later calls itself). Not journaled: the guest never sees it.
   */
  aside?: unknown;
}

/** Observes each served call with its raw bytes (the journal stores these). */
export type CallHandler = (fn: number, args: unknown[], request: Uint8Array) => Served | Promise<Served>;
export type ResultObserver = (response: Uint8Array, status: Status) => void;

/**
 * Kernel side: serves calls on `channel` until `stop()`. `handle` runs synchronously on the
 * kernel's thread; it may return a Promise (a blocking call), and the worker waits until it
 * settles. `onResult` sees the encoded result bytes (copied) after each call.
 */
export function serveChannel(
  channel: Channel,
  handle: CallHandler,
  onResult?: ResultObserver,
): { stop(): void } {
  const ctrl = new Int32Array(channel.sab, 0, HEADER_BYTES / 4);
  const data = new Uint8Array(channel.sab, HEADER_BYTES);
  let stopped = false;

  /** Set while an async handler's answer is awaited: the request stays on the channel. */
  let pending = false;

  const serveOne = (): void => {
    const request = data.slice(0, ctrl[LEN]);
    let out: Served | Promise<Served>;
    try {
      out = handle(ctrl[FN]!, decodeValue(request) as unknown[], request);
    } catch (e) {
      out = fault(e);
    }
    if (out instanceof Promise) {
      pending = true;
      out.then(answer, (e: unknown) => answer(fault(e)));
    } else answer(out);
  };

  const fault = (e: unknown): Served => ({
    status: Status.Fault,
    value: `kernel fault: ${(e as Error)?.message ?? String(e)}`,
  });

  const answer = (result: Served): void => {
    pending = false;
    if (stopped) return;
    let served = result;
    let len: number;
    try {
      len = encodeValue(served.value, data, 0);
    } catch (e) {
      served =
        e instanceof CodecOverflow
          ? {
              status: Status.GuestError,
              value: {
                tag: 'quota-exceeded',
                val: `the result exceeds the ${data.length}-byte hostcall limit`,
              },
            }
          : {
              status: Status.Fault,
              value: `kernel fault: cannot encode the result: ${(e as Error).message}`,
            };
      len = encodeValue(served.value, data, 0);
    }
    let asideLen = 0;
    if (served.aside !== undefined) {
      try {
        asideLen = encodeValue(served.aside, data, len) - len;
      } catch {
        asideLen = 0; // an aside is an optimisation: without it the worker asks again next time
      }
    }
    ctrl[STATUS] = served.status;
    ctrl[LEN] = len;
    ctrl[ASIDE] = asideLen;
    if (onResult) onResult(data.slice(0, len), served.status);
    Atomics.store(ctrl, STATE, RESPONSE);
    Atomics.notify(ctrl, STATE);
  };

  const loop = async (): Promise<void> => {
    while (!stopped) {
      const s = Atomics.load(ctrl, STATE);
      if (s === REQUEST && !pending) {
        serveOne();
        continue;
      }
      if (s === CLOSED) return;
      const w = Atomics.waitAsync(ctrl, STATE, s);
      if (w.async) await w.value;
    }
  };
  void loop();
  return {
    stop(): void {
      stopped = true;
      Atomics.store(ctrl, STATE, CLOSED);
      Atomics.notify(ctrl, STATE);
    },
  };
}
