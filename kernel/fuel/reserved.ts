/**
 * The names the fuel pass keeps for itself, and the refusal of a module that uses one.
 *
 * The kernel meters every module, always: the worker answers `agentos:meter` and reads
 * `__agentos_fuel` on the pass's word that it put them there. A module that brought its own
 * (say, an exported mutable i64 global named `__agentos_fuel`) would be running its own meter,
 * one that never runs out. So a module may not use:
 * - an export whose name starts with `__agentos_` or `__snap_` (the pass's exports);
 * - any import from the module `agentos:meter` (the pass's imports);
 * - a function or global whose internal name, from the name section, starts with `__agentos_`
 *   (the pass's own functions and globals; a module that names its own so is forging them).
 * The pass's own output uses all of them, so metering a metered module is refused too.
 *
 * @example
 * refuseReserved(reservedInterface(compiled), 'component.core.wasm'); // throws AOS_E_RESERVED_NAME
 */
import { AgentOSError } from '../base/errors.js';
import { FUEL } from './names.js';

/** Where a reserved name was found. */
export type ReservedKind = 'export' | 'import' | 'function' | 'global';

export interface ReservedUse {
  kind: ReservedKind;
  /** The export's name, the import's `module/name`, or the function's or global's name. */
  name: string;
}

const reservedExport = (name: string): boolean =>
  name.startsWith(FUEL.reservedPrefix) || name.startsWith(FUEL.snapPrefix);

/** The first reserved export or import of a compiled module, or null. */
export function reservedInterface(module: WebAssembly.Module): ReservedUse | null {
  for (const e of WebAssembly.Module.exports(module))
    if (reservedExport(e.name)) return { kind: 'export', name: e.name };
  for (const i of WebAssembly.Module.imports(module))
    if (i.module === FUEL.module) return { kind: 'import', name: `${i.module}/${i.name}` };
  return null;
}

/** The first function or global the name section names with a reserved name, or null. */
export function reservedInternal(names: {
  functions: readonly string[];
  globals: readonly string[];
}): ReservedUse | null {
  for (const name of names.functions)
    if (name.startsWith(FUEL.reservedPrefix)) return { kind: 'function', name };
  for (const name of names.globals) if (name.startsWith(FUEL.reservedPrefix)) return { kind: 'global', name };
  return null;
}

const WHERE: Record<ReservedKind, (name: string) => string> = {
  export: (n) => `exports "${n}"`,
  import: (n) => `imports "${n}"`,
  function: (n) => `has a function named "${n}"`,
  global: (n) => `has a global named "${n}"`,
};

/** @throws AgentOSError AOS_E_RESERVED_NAME naming the use and where it is, when there is one */
export function refuseReserved(use: ReservedUse | null, what: string): void {
  if (!use) return;
  throw new AgentOSError(
    'AOS_E_RESERVED_NAME',
    `${what} ${WHERE[use.kind](use.name)}, a name reserved for the fuel meter the kernel adds to ` +
      `every module (exports __agentos_* and __snap_*, imports from ${FUEL.module}, functions and ` +
      'globals __agentos_*); a module that is already metered cannot be metered again',
    { name: use.name, kind: use.kind },
  );
}
