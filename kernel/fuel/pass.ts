/**
 * The fuel pass: rewrites a core wasm module so that it meters its own execution, caps its own
 * memory growth and exposes its state for snapshots. Applied by the loader to every core module
 * of every component, first-party or third-party, and cached by digest.
 *
 * - A mutable i64 global `__agentos_fuel` is charged, for each basic block, that block's static
 *   instruction count, so one unit is one executed wasm instruction (meter-body.ts: charges pass
 *   through a per-function local). At function entries and loop headers
 *   the counter is checked: below zero, the module calls the import `agentos:meter.out_of_fuel`,
 *   which refills the counter, parks the thread, or throws to end the invocation.
 * - Bulk operations (`memory.fill`, `.copy`, `.init`, `table.fill`, `.copy`, `.init`, `.grow`)
 *   are charged their size, one unit per byte or element, and checked, once their operands are
 *   evaluated and before they run.
 * - Every `memory.grow` first calls `agentos:meter.memory_limit(delta)` when the grown size would
 *   pass the page limit in the mutable i32 global `__agentos_memory_limit`.
 * - Every mutable global, defined memory and table is exported as `__snap_global_<i>`,
 *   `__snap_memory_<i>`, `__snap_table_<i>` (i: index among the module's own definitions).
 *
 * A module that already uses the pass's names (reserved.ts) is refused with AOS_E_RESERVED_NAME,
 * the pass's own output included: a module cannot bring its own meter, and metering twice is an
 * error, not a no-op. The pass is deterministic (same input, same bytes). It works on the binary
 * itself: the original bytes are copied through, the charges inserted between them, and the
 * indices the pass's imports move rewritten (sections-rewrite.ts), so 12 MB take well under a
 * second, not the seconds an IR round trip takes. Its output is validated by V8 before it is
 * returned. A module with more than one memory, or a 64-bit table, is refused.
 *
 * @example
 * import { instrumentFuel } from 'agentos/toolchain';
 * const { bytes, stats } = instrumentFuel(readFileSync('core.wasm'));
 */
import '../base/wasm-features.js'; // first: extended-const before any compile
import { AgentOSError } from '../base/errors.js';
import { Charges } from './charges.js';
import { meterBody } from './meter-body.js';
import { type Layout, readLayout, type SectionAt } from './module-layout.js';
import { FUEL } from './names.js';
import { refuseReserved, reservedInterface, reservedInternal } from './reserved.js';
import {
  appended,
  elements,
  type Names,
  names,
  type Shift,
  startFunction,
  tables,
  withExports,
  withGlobals,
} from './sections-rewrite.js';
import { concat, name, Reader, s64, section, u32, vec } from './wasm-bytes.js';

export { FUEL, FUEL_PASS_VERSION } from './names.js';

export interface FuelStats {
  functions: number;
  loops: number;
  /** Charge points inserted (function entries, loop headers, block starts). */
  charges: number;
  memoryGrows: number;
  /** Bulk operations charged by their size. */
  bulkOps: number;
  snapExports: string[];
  /** Milliseconds per phase. */
  ms: { read: number; instrument: number; emit: number; validate: number };
}

export interface FuelResult {
  bytes: Uint8Array;
  stats: FuelStats;
}

export type FuelPhase = 'read' | 'instrument' | 'emit' | 'validate';

/** Where each known section goes, so a section the pass adds lands in its place. */
const ORDER: Record<number, number> = {
  1: 1,
  2: 2,
  3: 3,
  4: 4,
  5: 5,
  13: 6,
  6: 7,
  7: 8,
  8: 9,
  9: 10,
  12: 11,
  10: 12,
  11: 13,
};

const unsupported = (what: string, why: string): AgentOSError =>
  new AgentOSError('AOS_E_FUEL_UNSUPPORTED', `${what}: the fuel pass cannot meter it: ${why}`);

/**
 * Instruments one core module.
 * @param onPhase called as each phase starts (for progress on large modules)
 * @throws AgentOSError AOS_E_FUEL_UNSUPPORTED when the module uses something the pass cannot meter,
 *   AOS_E_RESERVED_NAME when it uses a name the pass reserves (reserved.ts)
 */
export function instrumentFuel(
  bytes: Uint8Array,
  what = 'core module',
  onPhase?: (phase: FuelPhase) => void,
): FuelResult {
  const ms = { read: 0, instrument: 0, emit: 0, validate: 0 };
  let t = performance.now();
  const lap = (phase: keyof typeof ms): void => {
    const now = performance.now();
    ms[phase] = Math.round(now - t);
    t = now;
  };
  onPhase?.('read');
  // V8 checks the bytes first, so the pass reads only valid modules.
  refuseReserved(reservedInterface(compiled(bytes, what)), what);
  const layout = readLayout(bytes, what);
  if (layout.memories.length > 1) throw unsupported(what, 'it has more than one memory');
  if (layout.tables.some((x) => x.is64)) throw unsupported(what, 'it has a 64-bit table');
  const shift: Shift = { from: layout.importedFunctions, by: layout.memories.length ? 2 : 1 };
  // Every section named "name" (V8 reads the first it can): each moved and checked, or dropped.
  const named = new Map<SectionAt, Names | null>();
  for (const x of layout.sections)
    if (x.id === 0 && customName(bytes, x, what) === 'name') {
      const n = names(bytes, nameAt(bytes, x, what), x.end, what, shift);
      if (n) refuseReserved(reservedInternal(n), what);
      named.set(x, n);
    }
  lap('read');
  onPhase?.('instrument');
  const plan = rewrite(bytes, layout, shift, what);
  lap('instrument');
  onPhase?.('emit');
  const parts: (Uint8Array | readonly number[])[] = [bytes.subarray(0, 8)];
  const added = new Map(plan.sections);
  const flushBefore = (rank: number): void => {
    for (const [id, payload] of [...added].sort((a, b) => ORDER[a[0]]! - ORDER[b[0]]!)) {
      if (ORDER[id]! >= rank || layout.sections.some((x) => x.id === id)) continue;
      parts.push(section(id, payload));
      added.delete(id);
    }
  };
  for (const x of layout.sections) {
    if (x.id !== 0) flushBefore(ORDER[x.id] ?? 0);
    const payload = x.id === 0 ? null : added.get(x.id);
    if (payload === DROPPED) added.delete(x.id);
    else if (named.has(x)) {
      const n = named.get(x);
      if (n) parts.push(section(0, concat([name('name'), n.payload])));
    } else if (payload) {
      parts.push(section(x.id, payload));
      added.delete(x.id);
    } else parts.push(bytes.subarray(x.start, x.end));
  }
  flushBefore(Number.POSITIVE_INFINITY);
  const out = concat(parts);
  lap('emit');
  onPhase?.('validate');
  if (!WebAssembly.validate(out))
    throw new AgentOSError(
      'AOS_E_FUEL_UNSUPPORTED',
      `${what}: the fuel-instrumented module does not validate`,
    );
  lap('validate');
  return {
    bytes: out,
    stats: { ...plan.counts, functions: layout.functionTypes.length, snapExports: plan.snaps, ms },
  };
}

/** V8's reading of the bytes (~0.1 s for 12 MB: it compiles lazily). */
function compiled(bytes: Uint8Array, what: string): WebAssembly.Module {
  try {
    return new WebAssembly.Module(bytes);
  } catch (e) {
    throw new AgentOSError(
      'AOS_E_FUEL_UNSUPPORTED',
      `${what} is not a valid core wasm module`,
      {},
      { cause: e },
    );
  }
}

function customName(bytes: Uint8Array, x: SectionAt, what: string): string {
  return new Reader(bytes, x.payload, x.end, what).name();
}

function nameAt(bytes: Uint8Array, x: SectionAt, what: string): number {
  const r = new Reader(bytes, x.payload, x.end, what);
  r.name();
  return r.pos;
}

const funcType = (params: readonly number[], results: readonly number[]): number[] => [
  0x60,
  ...u32(params.length),
  ...params,
  ...u32(results.length),
  ...results,
];

/** A section the pass leaves out (its payload in `rewrite`'s map). */
const DROPPED = new Uint8Array(0);

/** The new payloads of the sections the pass changes or adds, and what it counted. */
function rewrite(bytes: Uint8Array, layout: Layout, shift: Shift, what: string) {
  const of = (id: number): SectionAt | undefined => layout.sections.find((x) => x.id === id);
  const payloadOf = (id: number): [Uint8Array | null, number, number] => {
    const x = of(id);
    return x ? [bytes, x.payload, x.end] : [null, 0, 0];
  };
  const memory = layout.memories[0];
  const idx = memory?.is64 ? 0x7e : 0x7f;
  const outOfFuel = layout.importedFunctions;
  const fuel = layout.globals.length;
  const growCheck = memory ? layout.importedFunctions + shift.by + layout.functionTypes.length : -1;
  const newTypes: number[][] = [];
  const typeIndex = new Map<string, number>();
  const typeOf = (t: number[]): number => {
    const key = t.join(',');
    let i = typeIndex.get(key);
    if (i === undefined) {
      i = layout.types.length + newTypes.length;
      newTypes.push(t);
      typeIndex.set(key, i);
    }
    return i;
  };
  // The meter's imports answer 0 (go on) or 1 (end: the module traps itself).
  const imports = [
    [...name(FUEL.module), ...name(FUEL.outOfFuel), 0x00, ...u32(typeOf(funcType([], [0x7f])))],
  ];
  const globals = [[0x7e, 0x01, 0x42, 0x00, 0x0b]];
  const exports: [string, number, number][] = [[FUEL.fuelGlobal, 3, fuel]];
  if (memory) {
    imports.push([
      ...name(FUEL.module),
      ...name(FUEL.memoryLimit),
      0x00,
      ...u32(typeOf(funcType([idx], [0x7f]))),
    ]);
    globals.push([0x7f, 0x01, 0x41, 0x7f, 0x0b]);
    exports.push([FUEL.memoryLimitGlobal, 3, fuel + 1]);
  }
  const snaps = snapExports(layout);
  exports.push(...snaps.map(([n, kind, index]): [string, number, number] => [n, kind, index]));
  const [b8, p8, e8] = payloadOf(8);
  // The start function is exported and the section dropped: the meter runs it (FUEL.startExport).
  if (b8) exports.push([FUEL.startExport, 0, startFunction(b8, p8, e8, what, shift)]);
  const counts = { loops: 0, charges: 0, memoryGrows: 0, bulkOps: 0 };
  const code = meterCode(bytes, of(10), layout, { what, fuel, outOfFuel, growCheck, shift, counts, typeOf });
  const sections = new Map<number, Uint8Array>();
  if (memory) {
    code.push(growCheckBody(memory.is64, fuel + 1, outOfFuel + 1));
    sections.set(3, appended(...payloadOf(3), what, [u32(typeOf(funcType([idx], [idx])))]));
  }
  sections.set(10, vec(code.length, code));
  sections.set(1, appended(...payloadOf(1), what, newTypes));
  sections.set(2, appended(...payloadOf(2), what, imports));
  sections.set(6, withGlobals(...payloadOf(6), what, shift, globals));
  sections.set(7, withExports(...payloadOf(7), what, shift, exports));
  const [b4, p4, e4] = payloadOf(4);
  if (b4) sections.set(4, tables(b4, p4, e4, what, shift));
  if (b8) sections.set(8, DROPPED);
  const [b9, p9, e9] = payloadOf(9);
  if (b9) sections.set(9, elements(b9, p9, e9, what, shift));
  return { sections, counts, snaps: snaps.map(([n]) => n) };
}

/** `__snap_global_<i>`, `__snap_table_<i>`, `__snap_memory_0`: [name, kind, index]. */
function snapExports(layout: Layout): [string, number, number][] {
  const out: [string, number, number][] = [];
  let g = 0;
  layout.globals.forEach((x, i) => {
    if (x.imported) return;
    if (x.mutable) out.push([`${FUEL.snapPrefix}global_${g}`, 3, i]);
    g++;
  });
  let t = 0;
  layout.tables.forEach((x, i) => {
    if (!x.imported) out.push([`${FUEL.snapPrefix}table_${t++}`, 1, i]);
  });
  if (layout.memories[0] && !layout.memories[0].imported) out.push([`${FUEL.snapPrefix}memory_0`, 2, 0]);
  return out;
}

/** Every defined function's body, metered, each as its size and bytes. */
function meterCode(
  bytes: Uint8Array,
  x: SectionAt | undefined,
  layout: Layout,
  ctx: {
    what: string;
    fuel: number;
    outOfFuel: number;
    growCheck: number;
    shift: Shift;
    counts: { loops: number; charges: number; memoryGrows: number; bulkOps: number };
    typeOf: (t: number[]) => number;
  },
): Uint8Array[] {
  if (!x) return [];
  const r = new Reader(bytes, x.payload, x.end, ctx.what);
  const n = r.u32();
  const out: Uint8Array[] = [];
  const common = {
    what: ctx.what,
    fuel: ctx.fuel,
    outOfFuel: ctx.outOfFuel,
    growCheck: ctx.growCheck,
    shiftFrom: ctx.shift.from,
    shift: ctx.shift.by,
    memory64: layout.memories[0]?.is64 ?? false,
    counts: ctx.counts,
  };
  for (let i = 0; i < n; i++) {
    const size = r.u32();
    const from = r.pos;
    r.skip(size);
    const type = layout.types[layout.functionTypes[i]!];
    if (!type) throw r.fail(`function ${i} has no function type`);
    const wrapper =
      type.resultCount === 0
        ? [0x40]
        : type.resultCount === 1
          ? [...type.results]
          : s64(BigInt(ctx.typeOf([0x60, 0x00, ...u32(type.resultCount), ...type.results])));
    const parts = meterBody(bytes, from, r.pos, { ...common, params: type.params, wrapper });
    let total = 0;
    for (const p of parts) total += p.length;
    out.push(concat([u32(total), ...parts]));
  }
  return out;
}

/**
 * `grow_check(delta) -> delta`: calls memory_limit(delta) when memory.size + delta passes the
 * limit (which ends the invocation: it answers 1 and the module traps). Sizes compare as u64, so no 32-bit delta can wrap around; for memory64 a wrap would read
 * as "fits", and V8's own 16 GiB ceiling still refuses the grow.
 */
function growCheckBody(is64: boolean, limit: number, memoryLimit: number): Uint8Array {
  const ext = is64 ? [] : [0xad];
  const code = [
    0x00, // no locals
    0x3f,
    0x00,
    ...ext, // memory.size
    0x20,
    0x00,
    ...ext,
    0x7c, // + delta
    0x23,
    ...u32(limit),
    0xad,
    0x56, // > limit (u64)
    0x04,
    0x40,
    0x20,
    0x00,
    ...Charges.call(memoryLimit),
    0x0b,
    0x20,
    0x00,
    0x0b,
  ];
  return concat([u32(code.length), code]);
}
