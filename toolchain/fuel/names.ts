/**
 * The names the fuel pass adds to a module and the kernel's worker reads, and the pass's
 * version. Kept apart from the pass so the worker and the loader do not load binaryen.
 */
export const FUEL = {
  module: 'agentos:meter',
  outOfFuel: 'out_of_fuel',
  memoryLimit: 'memory_limit',
  fuelGlobal: '__agentos_fuel',
  memoryLimitGlobal: '__agentos_memory_limit',
  snapPrefix: '__snap_',
} as const;

/** Bump when the pass's output changes, so cached instrumented modules are redone. */
export const FUEL_PASS_VERSION = 2;
