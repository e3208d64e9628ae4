/**
 * The state of an idle instance, and putting it back into a fresh one: each core module's
 * mutable globals and linear memory, which the fuel pass exports as `__snap_global_<i>` and
 * `__snap_memory_0` (kernel/fuel/pass.ts). A component built by `agentos build` imports no WASI
 * and holds no resources, so that is all its state: the glue's JS side holds nothing that lives
 * across calls, and the tables are filled at instantiation. Taken only between calls.
 *
 * Layout: the hostcall value codec of `{ v: 1, cores: [{ globals: [name, value][], memory }] }`,
 * gzipped (level 1).
 *
 * @example
 * const bytes = capture(meter.exports());     // after a call, in the worker
 * apply(fresh.exports(), bytes);              // a new instance of the same digest, before any call
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { decodeValue, encodeToBytes } from '../bridge/codec.js';
import { FUEL } from '../fuel/names.js';

interface CoreState {
  globals: [string, number | bigint][];
  memory: Uint8Array | null;
}

const GLOBAL = `${FUEL.snapPrefix}global_`;
const MEMORY = `${FUEL.snapPrefix}memory_0`;
const PAGE = 65536;

/** The snapshot of the cores (their exports, in instantiation order). */
export function capture(cores: readonly Record<string, unknown>[]): Uint8Array {
  const out: CoreState[] = cores.map((x) => {
    const globals: [string, number | bigint][] = [];
    for (const [name, v] of Object.entries(x)) {
      if (!name.startsWith(GLOBAL) || !(v instanceof WebAssembly.Global)) continue;
      const value = v.value as unknown;
      if (typeof value === 'number' || typeof value === 'bigint') globals.push([name, value]);
    }
    const memory = x[MEMORY];
    return {
      globals,
      memory: memory instanceof WebAssembly.Memory ? new Uint8Array(memory.buffer.slice(0)) : null,
    };
  });
  return gzipSync(encodeToBytes({ v: 1, cores: out }, 1 << 30), { level: 1 });
}

/**
 * Puts a snapshot into freshly instantiated cores of the same component.
 * @throws Error when it does not fit them (another component, another build of it)
 */
export function apply(cores: readonly Record<string, unknown>[], bytes: Uint8Array): void {
  const snap = decodeValue(gunzipSync(bytes)) as { v: number; cores: CoreState[] };
  if (snap?.v !== 1 || !Array.isArray(snap.cores)) throw new Error('not a snapshot of this format');
  if (snap.cores.length !== cores.length)
    throw new Error(`the snapshot has ${snap.cores.length} core modules, the instance ${cores.length}`);
  for (const [i, state] of snap.cores.entries()) {
    const x = cores[i]!;
    const memory = x[MEMORY];
    if (state.memory) {
      if (!(memory instanceof WebAssembly.Memory)) throw new Error(`core ${i} has no memory to restore`);
      const have = memory.buffer.byteLength;
      if (state.memory.length < have) throw new Error(`core ${i}'s memory is smaller in the snapshot`);
      if (state.memory.length > have)
        (memory as unknown as { grow(pages: number): number }).grow((state.memory.length - have) / PAGE);
      new Uint8Array(memory.buffer).set(state.memory);
    }
    for (const [name, value] of state.globals) {
      const g = x[name];
      if (!(g instanceof WebAssembly.Global)) throw new Error(`core ${i} has no global ${name}`);
      g.value = value;
    }
  }
}
