/**
 * The post ring: hostcalls a worker answered itself, on their way to the kernel. A call whose
 * answer the worker can give without asking (a log line, a send under a credit the kernel
 * granted) is written here and the guest goes on at once; the kernel applies it afterwards — in
 * order, before it serves any later call of that worker and before it settles the worker's
 * command — and journals it like any other call.
 *
 * One single-producer, single-consumer byte ring per worker in a SharedArrayBuffer. The worker
 * appends entries and adds their size to USED; the kernel reads from its tail and subtracts what
 * it consumed. Entries never straddle the end: a WRAP marker sends the reader back to 0. The
 * kernel waits with `Atomics.waitAsync` only when the ring is empty and says so in WAITING, so
 * a worker posting into a ring the kernel is already draining does not pay for a wake-up.
 *
 * @example
 * const ring = createPostRing();                        // kernel side, per worker
 * const watch = watchPosts(ring, () => drainPosts(ring, (fn, index, args, result) => apply()));
 * new PostWriter(ring).post(3, 0, [level, text, ''], undefined);  // worker: false when full
 */
import { setImmediate } from 'node:timers';
import { CodecOverflow, encodeValue } from './codec.js';

const USED = 0;
const WAITING = 1;
const CLOSED = 2;
const HEAD = 3;
const TAIL = 4;
const HEADER_BYTES = 64;
/** size, fn, index, args length, result length. */
const ENTRY_HEADER = 20;
const WRAP = -1;

export interface PostRing {
  readonly sab: SharedArrayBuffer;
}

/** Room for thousands of small calls; a call larger than `MAX_POSTED_BYTES` goes the blocking way. */
export const DEFAULT_RING_BYTES = 1 << 20;
export const MAX_POSTED_BYTES = 64 << 10;

export function createPostRing(dataBytes = DEFAULT_RING_BYTES): PostRing {
  if (dataBytes % 4 !== 0 || dataBytes < 1024)
    throw new RangeError('a post ring needs a multiple of 4 bytes, ≥ 1 KiB');
  return { sab: new SharedArrayBuffer(HEADER_BYTES + dataBytes) };
}

const align = (n: number): number => (n + 3) & ~3;

interface Views {
  ctrl: Int32Array;
  data: Uint8Array;
  view: DataView;
}

/** Views of each ring, made once (the kernel checks the ring on every hostcall). */
const ringViews = new WeakMap<SharedArrayBuffer, Views>();
function viewsOf(ring: PostRing): Views {
  let v = ringViews.get(ring.sab);
  if (!v) {
    v = {
      ctrl: new Int32Array(ring.sab, 0, HEADER_BYTES / 4),
      data: new Uint8Array(ring.sab, HEADER_BYTES),
      view: new DataView(ring.sab, HEADER_BYTES),
    };
    ringViews.set(ring.sab, v);
  }
  return v;
}

/** Worker side. */
export class PostWriter {
  private readonly ctrl: Int32Array;
  private readonly data: Uint8Array;
  private readonly view: DataView;
  private readonly cap: number;
  /** Where the entry is encoded before it is copied in (TextEncoder writes faster to plain memory). */
  private readonly scratch = new Uint8Array(MAX_POSTED_BYTES);

  constructor(ring: PostRing) {
    ({ ctrl: this.ctrl, data: this.data, view: this.view } = viewsOf(ring));
    this.cap = this.data.length;
  }

  /**
   * Posts call `fn` (made by message `index` of the worker's batch) with its arguments and the
   * result the guest was given. False when it does not fit (too large, or the ring is full until
   * the kernel drains it) or the kernel closed the ring: the caller then makes the call the
   * blocking way, which drains the ring first.
   */
  post(fn: number, index: number, args: unknown[], result: unknown): boolean {
    const { ctrl, data, view, cap, scratch } = this;
    if (Atomics.load(ctrl, CLOSED) === 1) return false;
    let argsEnd: number;
    let resultEnd: number;
    try {
      argsEnd = encodeValue(args, scratch, 0);
      resultEnd = encodeValue(result, scratch, argsEnd);
    } catch (e) {
      if (e instanceof CodecOverflow) return false;
      throw e;
    }
    const size = align(ENTRY_HEADER + resultEnd);
    let head = ctrl[HEAD]!;
    const tailRoom = cap - head;
    const need = size <= tailRoom ? size : tailRoom + size;
    if (need > cap - Atomics.load(ctrl, USED)) return false;
    if (size > tailRoom) {
      view.setInt32(head, WRAP, true);
      head = 0;
    }
    view.setInt32(head, size, true);
    view.setInt32(head + 4, fn, true);
    view.setInt32(head + 8, index, true);
    view.setInt32(head + 12, argsEnd, true);
    view.setInt32(head + 16, resultEnd - argsEnd, true);
    data.set(scratch.subarray(0, resultEnd), head + ENTRY_HEADER);
    head += size;
    ctrl[HEAD] = head === cap ? 0 : head;
    // Publishes the entry (a sequentially consistent add orders the writes above before it).
    Atomics.add(ctrl, USED, need);
    if (Atomics.load(ctrl, WAITING) === 1) Atomics.notify(ctrl, USED);
    return true;
  }
}

/** Whether the ring holds posted calls (kernel side: nothing to drain otherwise). */
export function hasPosts(ring: PostRing): boolean {
  return Atomics.load(viewsOf(ring).ctrl, USED) > 0;
}

/** What the kernel does with one posted call; `args` and `result` are encoded (codec.ts). */
export type PostHandler = (fn: number, index: number, args: Uint8Array, result: Uint8Array) => void;

/**
 * Kernel side: applies every posted call in the ring, oldest first, and frees their room.
 * Returns how many it applied. A handler that throws is reported to `onError`; the rest go on.
 */
export function drainPosts(ring: PostRing, handle: PostHandler, onError?: (e: unknown) => void): number {
  const { ctrl, data, view } = viewsOf(ring);
  const used = Atomics.load(ctrl, USED);
  if (used === 0) return 0;
  const cap = data.length;
  let tail = ctrl[TAIL]!;
  let consumed = 0;
  let applied = 0;
  try {
    while (consumed < used) {
      const size = view.getInt32(tail, true);
      if (size === WRAP) {
        consumed += cap - tail;
        tail = 0;
        continue;
      }
      const argsLen = view.getInt32(tail + 12, true);
      const resultLen = view.getInt32(tail + 16, true);
      const at = tail + ENTRY_HEADER;
      // Copies: the journal keeps these bytes, and TextDecoder refuses views of shared memory.
      const args = data.slice(at, at + argsLen);
      const result = data.slice(at + argsLen, at + argsLen + resultLen);
      const fn = view.getInt32(tail + 4, true);
      const index = view.getInt32(tail + 8, true);
      // Consumed before it is applied: whatever happens next, it is never applied twice.
      applied++;
      consumed += size;
      tail += size;
      if (tail === cap) tail = 0;
      try {
        handle(fn, index, args, result);
      } catch (e) {
        onError?.(e);
      }
    }
  } finally {
    ctrl[TAIL] = tail;
    Atomics.sub(ctrl, USED, consumed);
  }
  return applied;
}

/**
 * Kernel side: calls `onPosts` whenever the ring holds posted calls, at most once per turn of the
 * event loop (a worker posting without pause must not starve the kernel's other work), until
 * `stop()`, which also closes the ring to the writer. What `onPosts` throws goes to `onError`.
 */
export function watchPosts(
  ring: PostRing,
  onPosts: () => void,
  onError?: (e: unknown) => void,
): { stop(): void } {
  const { ctrl } = viewsOf(ring);
  let stopped = false;
  const loop = async (): Promise<void> => {
    while (!stopped) {
      if (Atomics.load(ctrl, USED) > 0) {
        try {
          onPosts();
        } catch (e) {
          onError?.(e);
        }
        await new Promise((r) => setImmediate(r));
        continue;
      }
      Atomics.store(ctrl, WAITING, 1);
      const w = Atomics.waitAsync(ctrl, USED, 0);
      if (w.async) await w.value;
      Atomics.store(ctrl, WAITING, 0);
    }
  };
  void loop();
  return {
    stop(): void {
      stopped = true;
      Atomics.store(ctrl, CLOSED, 1);
      Atomics.notify(ctrl, USED);
    },
  };
}
