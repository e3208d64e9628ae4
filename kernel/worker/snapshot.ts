/**
 * The state of an idle instance, and putting it back into a fresh one: each core module's
 * mutable globals and linear memory, which the fuel pass exports as `__snap_global_<i>` and
 * `__snap_memory_0` (kernel/fuel/pass.ts). A component built by `agentos build` imports no WASI
 * and holds no resources, so that is all its state: the glue's JS side holds nothing that lives
 * across calls, and the tables are filled at instantiation. Taken only between calls.
 *
 * A memory is kept as the 4 KiB pages that differ from the component's fresh image (its memory
 * right after instantiation, the same in every instance of the same bytes: the worker remembers
 * it at each digest's first instantiation), so a small heap keeps little, and putting it back
 * writes only those pages into a fresh instance, which already holds the image.
 *
 * Layout: the hostcall value codec of `{ v: 2, cores: [{ globals: [name, value][], bytes,
 * pages: [index...], data }] }` (`bytes`: the memory's size; `data`: the pages, in order), gzipped
 * (level 1).
 *
 * @example
 * remember(digest, meter.exports());           // right after instantiation, before init
 * const bytes = capture(digest, meter.exports());
 * apply(digest, fresh.exports(), bytes);       // a new instance of the same digest, before any call
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { decodeValue, encodeToBytes } from '../bridge/codec.js';
import { FUEL } from '../fuel/names.js';

type Exports = Record<string, unknown>;

interface CoreState {
  globals: [string, number | bigint][];
  /** The memory's size in bytes (0: the core has none). */
  bytes: number;
  /** Indexes of the pages that differ from the fresh image, and those pages' bytes. */
  pages: number[];
  data: Uint8Array;
}

const GLOBAL = `${FUEL.snapPrefix}global_`;
const MEMORY = `${FUEL.snapPrefix}memory_0`;
const WASM_PAGE = 65536;
const PAGE = 4096;

/** Each digest's fresh memory images, by core (in instantiation order). */
const images = new Map<string, (Uint8Array | null)[]>();

const memoryOf = (x: Exports): WebAssembly.Memory | null => {
  const m = x[MEMORY];
  return m instanceof WebAssembly.Memory ? m : null;
};

/** Remembers the fresh image of `digest`'s cores, once (call it right after instantiation). */
export function remember(digest: string, cores: readonly Exports[]): void {
  if (images.has(digest)) return;
  images.set(
    digest,
    cores.map((x) => {
      const m = memoryOf(x);
      return m ? new Uint8Array(m.buffer.slice(0)) : null;
    }),
  );
}

const ZERO = Buffer.alloc(PAGE);

/** Whether page `i` of `now` differs from the image (past its end, from zeros). */
function differs(now: Buffer, image: Buffer | null, i: number): boolean {
  const start = i * PAGE;
  const page = now.subarray(start, start + PAGE);
  const was = image && start < image.length ? image.subarray(start, start + PAGE) : ZERO;
  return was.length < PAGE
    ? !page.equals(Buffer.concat([was, ZERO.subarray(was.length)]))
    : !page.equals(was);
}

/** The snapshot of the cores (their exports, in instantiation order). */
export function capture(digest: string, cores: readonly Exports[]): Uint8Array {
  const base = images.get(digest);
  const out: CoreState[] = cores.map((x, c) => {
    const globals: [string, number | bigint][] = [];
    for (const [name, v] of Object.entries(x)) {
      if (!name.startsWith(GLOBAL) || !(v instanceof WebAssembly.Global)) continue;
      const value = v.value as unknown;
      if (typeof value === 'number' || typeof value === 'bigint') globals.push([name, value]);
    }
    const m = memoryOf(x);
    if (!m) return { globals, bytes: 0, pages: [], data: new Uint8Array(0) };
    const now = Buffer.from(m.buffer);
    const kept = base?.[c];
    const image = kept ? Buffer.from(kept.buffer, kept.byteOffset, kept.byteLength) : null;
    const pages: number[] = [];
    for (let i = 0; i < now.length / PAGE; i++) if (!base || differs(now, image, i)) pages.push(i);
    const data = new Uint8Array(pages.length * PAGE);
    for (const [k, p] of pages.entries()) data.set(now.subarray(p * PAGE, (p + 1) * PAGE), k * PAGE);
    return { globals, bytes: now.length, pages, data };
  });
  return gzipSync(encodeToBytes({ v: 2, cores: out }, 1 << 30), { level: 1 });
}

/**
 * Puts a snapshot into freshly instantiated cores of the same component.
 * @throws Error when it does not fit them (another component, another build of it)
 */
export function apply(cores: readonly Exports[], bytes: Uint8Array): void {
  const snap = decodeValue(gunzipSync(bytes)) as { v: number; cores: CoreState[] };
  if (snap?.v !== 2 || !Array.isArray(snap.cores)) throw new Error('not a snapshot of this format');
  if (snap.cores.length !== cores.length)
    throw new Error(`the snapshot has ${snap.cores.length} core modules, the instance ${cores.length}`);
  for (const [i, state] of snap.cores.entries()) {
    const x = cores[i]!;
    const memory = memoryOf(x);
    if (state.bytes > 0) {
      if (!memory) throw new Error(`core ${i} has no memory to restore`);
      const have = memory.buffer.byteLength;
      if (state.bytes < have) throw new Error(`core ${i}'s memory is smaller in the snapshot`);
      if (state.bytes > have)
        (memory as unknown as { grow(pages: number): number }).grow((state.bytes - have) / WASM_PAGE);
      const now = new Uint8Array(memory.buffer);
      for (const [k, p] of state.pages.entries())
        now.set(state.data.subarray(k * PAGE, (k + 1) * PAGE), p * PAGE);
    }
    for (const [name, value] of state.globals) {
      const g = x[name];
      if (!(g instanceof WebAssembly.Global)) throw new Error(`core ${i} has no global ${name}`);
      g.value = value;
    }
  }
}
