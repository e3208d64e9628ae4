/**
 * The fuel pass: rewrites a core wasm module so that it meters its own execution, caps its own
 * memory growth and exposes its state for snapshots. Applied by the loader to every core module
 * of every component, first-party or third-party, and cached by digest.
 *
 * - A mutable i64 global `__agentos_fuel` is charged, for each basic block, that block's static
 *   instruction count (binaryen IR nodes), so one unit is about one executed wasm instruction
 *   (walk.ts: charges pass through a per-function local). At function entries and loop headers
 *   the counter is checked: below zero, the module calls the import `agentos:meter.out_of_fuel`,
 *   which refills the counter, parks the thread, or throws to end the invocation.
 * - Bulk operations (`memory.fill`, `memory.copy`, `memory.init`, `table.grow`) are charged
 *   their size, one unit per byte or element, and checked, once their operands are evaluated
 *   and before they run (walk.ts, `sized`).
 * - Every `memory.grow` first calls `agentos:meter.memory_limit(delta)` when the grown size would
 *   pass the page limit in the mutable i32 global `__agentos_memory_limit`.
 * - Every mutable global, defined memory and table is exported as `__snap_global_<i>`,
 *   `__snap_memory_<i>`, `__snap_table_<i>` (i: index among the module's own definitions).
 *
 * A module that already uses the pass's names (reserved.ts) is refused with AOS_E_RESERVED_NAME,
 * the pass's own output included: a module cannot bring its own meter, and metering twice is an
 * error, not a no-op. The pass is deterministic (same input, same bytes). Its output is
 * validated by binaryen before it is returned.
 *
 * @example
 * import { instrumentFuel } from 'agentos/toolchain';
 * const { bytes, stats } = instrumentFuel(readFileSync('core.wasm'));
 */
import '../base/wasm-features.js'; // first: extended-const before any compile
import binaryen from 'binaryen';
import { AgentOSError } from '../base/errors.js';
import { FUEL } from './names.js';
import { refuseReserved, reservedInterface, reservedInternal } from './reserved.js';
import { type Walker, walkerFor } from './walk.js';

const B = binaryen as typeof binaryen & {
  Features: { CompactImports: number };
  Function: { setBody(f: binaryen.FunctionRef, body: binaryen.ExpressionRef): void };
};

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
  ms: { read: number; instrument: number; validate: number; emit: number };
}

export interface FuelResult {
  bytes: Uint8Array;
  stats: FuelStats;
}

export type FuelPhase = 'read' | 'instrument' | 'validate' | 'emit';

/** Node 20's V8 rejects binaryen's compact import encoding (`unknown import kind 0x7e`). */
const FEATURES = B.Features.All & ~B.Features.CompactImports;

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
  const ms = { read: 0, instrument: 0, validate: 0, emit: 0 };
  let t = performance.now();
  const lap = (phase: keyof typeof ms): void => {
    const now = performance.now();
    ms[phase] = Math.round(now - t);
    t = now;
  };
  onPhase?.('read');
  // binaryen aborts (and is left unusable) on bytes it cannot read: V8 checks them first, and
  // its imports and exports are checked before binaryen spends seconds reading a large module.
  refuseReserved(reservedInterface(compiled(bytes, what)), what);
  const m = B.readBinary(bytes);
  try {
    m.setFeatures(FEATURES);
    lap('read');
    refuseReserved(reservedInternal(m), what);
    onPhase?.('instrument');
    const snapExports = exportState(m);
    const walker = walkerFor(m, what);
    const counts = meterFunctions(m, walker);
    lap('instrument');
    onPhase?.('validate');
    if (!m.validate()) {
      throw new AgentOSError(
        'AOS_E_FUEL_UNSUPPORTED',
        `${what}: the fuel-instrumented module does not validate`,
      );
    }
    lap('validate');
    onPhase?.('emit');
    const emitted = m.emitBinary();
    // A standalone copy, so the bytes can be transferred between threads.
    const out = emitted.byteLength === emitted.buffer.byteLength ? emitted : emitted.slice();
    lap('emit');
    return { bytes: out, stats: { ...counts, snapExports, ms } };
  } finally {
    m.dispose();
  }
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

/** Exports every mutable global, defined memory and table under `__snap_*`. */
function exportState(m: binaryen.Module): string[] {
  const names: string[] = [];
  let g = 0;
  for (let i = 0; i < m.getNumGlobals(); i++) {
    const info = B.getGlobalInfo(m.getGlobalByIndex(i));
    if (info.module) continue;
    if (info.mutable) {
      const name = `${FUEL.snapPrefix}global_${g}`;
      m.addGlobalExport(info.name, name);
      names.push(name);
    }
    g++;
  }
  let t = 0;
  for (let i = 0; i < m.getNumTables(); i++) {
    const info = B.getTableInfo(m.getTableByIndex(i));
    if (info.module) continue;
    const name = `${FUEL.snapPrefix}table_${t++}`;
    m.addTableExport(info.name, name);
    names.push(name);
  }
  const memory = definedMemoryName(m);
  if (memory !== null) {
    const name = `${FUEL.snapPrefix}memory_0`;
    m.addMemoryExport(memory, name);
    names.push(name);
  }
  return names;
}

/** The internal name of the module's own (not imported) memory, or null. */
export function definedMemoryName(m: binaryen.Module): string | null {
  if (!m.hasMemory()) return null;
  const info = m.getMemoryInfo();
  if (info.module) return null;
  for (let i = 0; i < m.getNumExports(); i++) {
    const e = B.getExportInfo(m.getExportByIndex(i));
    if (e.kind === B.ExternalMemory) return e.value;
  }
  return '0'; // binaryen's name for an unnamed first memory
}

/** Adds the counter, the imports and the checks, and rewrites every defined function. */
function meterFunctions(
  m: binaryen.Module,
  walker: Walker,
): Pick<FuelStats, 'functions' | 'loops' | 'charges' | 'memoryGrows' | 'bulkOps'> {
  m.addGlobal(FUEL.fuelGlobal, B.i64, true, m.i64.const(0n as unknown as number));
  m.addGlobalExport(FUEL.fuelGlobal, FUEL.fuelGlobal);
  m.addFunctionImport('__agentos_out_of_fuel', FUEL.module, FUEL.outOfFuel, B.none, B.none);
  const fns: binaryen.FunctionRef[] = [];
  for (let i = 0; i < m.getNumFunctions(); i++) fns.push(m.getFunctionByIndex(i));
  const memory = m.hasMemory() ? m.getMemoryInfo() : null;
  if (memory) addGrowCheck(m, memory.is64);
  let functions = 0;
  for (const f of fns) {
    const info = B.getFunctionInfo(f);
    if (info.module || !info.body) continue;
    functions++;
    B.Function.setBody(f, walker.meter(f, info.body));
  }
  return { functions, ...walker.counts };
}

/**
 * `__agentos_grow_check(delta) -> delta`: calls memory_limit(delta) when memory.size + delta
 * passes the limit. Sizes compare as u64, so no delta can wrap around.
 */
function addGrowCheck(m: binaryen.Module, is64: boolean): void {
  m.addGlobal(FUEL.memoryLimitGlobal, B.i32, true, m.i32.const(-1));
  m.addGlobalExport(FUEL.memoryLimitGlobal, FUEL.memoryLimitGlobal);
  const idx = is64 ? B.i64 : B.i32;
  m.addFunctionImport('__agentos_memory_limit', FUEL.module, FUEL.memoryLimit, idx, B.none);
  const delta = m.local.get(0, idx);
  const u64 = (e: binaryen.ExpressionRef): binaryen.ExpressionRef => (is64 ? e : m.i64.extend_u(e));
  const size = u64(m.memory.size(undefined, is64));
  const limit = m.i64.extend_u(m.global.get(FUEL.memoryLimitGlobal, B.i32));
  // u64 add cannot overflow for 32-bit sizes; for memory64 a wrap would read as "fits",
  // and V8's own 16 GiB ceiling still refuses the grow.
  const over = m.i64.gt_u(m.i64.add(size, u64(m.local.get(0, idx))), limit);
  m.addFunction(
    '__agentos_grow_check',
    idx,
    idx,
    [],
    m.block(null, [m.if(over, m.call('__agentos_memory_limit', [delta], B.none)), m.local.get(0, idx)], idx),
  );
}
