/**
 * The names the fuel pass adds to a module and the kernel's worker reads, the pass's version,
 * and the check that a core module carries the meter the pass added. Kept apart from the pass
 * so the worker does not load the pass.
 *
 * @example
 * const lacks = missingMeter(await WebAssembly.compile(bytes));
 * if (lacks) throw new Error(`not metered: it lacks ${lacks}`);
 */
export const FUEL = {
  module: 'agentos:meter',
  outOfFuel: 'out_of_fuel',
  memoryLimit: 'memory_limit',
  fuelGlobal: '__agentos_fuel',
  memoryLimitGlobal: '__agentos_memory_limit',
  /**
   * The module's start function, exported instead of run by the engine: the meter runs it once
   * it holds the module's counter (a start function the engine ran would spend fuel no grant
   * gave, and a loop in it nothing could end).
   */
  startExport: '__agentos_start',
  snapPrefix: '__snap_',
  /** Exports and internal function and global names the pass keeps for itself. */
  reservedPrefix: '__agentos_',
} as const;

/** Bump when the pass's output changes, so cached instrumented modules are redone. */
export const FUEL_PASS_VERSION = 6;

/**
 * What a compiled core module lacks of the meter the fuel pass adds to every module (its
 * `agentos:meter/out_of_fuel` import and its `__agentos_fuel` export), or null when it has both.
 * The pass refuses modules that bring these names themselves, so having them means metered.
 */
export function missingMeter(module: WebAssembly.Module): string | null {
  let lacks = checked.get(module);
  if (lacks === undefined) {
    lacks = lacksMeter(module);
    checked.set(module, lacks);
  }
  return lacks;
}

/** Each module's answer, kept: a module is immutable, and listing a large one's imports per instance cost ~0.7 ms of a spawn. */
const checked = new WeakMap<WebAssembly.Module, string | null>();

function lacksMeter(module: WebAssembly.Module): string | null {
  const imported = WebAssembly.Module.imports(module).some(
    (i) => i.module === FUEL.module && i.name === FUEL.outOfFuel && i.kind === 'function',
  );
  if (!imported) return `the ${FUEL.module}/${FUEL.outOfFuel} import`;
  const exported = WebAssembly.Module.exports(module).some(
    (e) => e.name === FUEL.fuelGlobal && e.kind === 'global',
  );
  return exported ? null : `the ${FUEL.fuelGlobal} export`;
}
