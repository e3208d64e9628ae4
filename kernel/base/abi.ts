/**
 * The kernel's ABI: the `agentos:kernel@0.1.0` WIT package (in `wit/`). This module knows its
 * interface names and how jco names things in JS; a test checks the list against `wit/`.
 */

export const PACKAGE = 'agentos:kernel';
export const ABI_VERSION = '0.1.0';

/** Every interface in wit/, in the order the files define them. `types` holds only types. */
export const WIT_INTERFACES = [
  'types',
  'log',
  'clock',
  'random',
  'working-memory',
  'episodic-memory',
  'semantic-memory',
  'ipc',
  'events',
  'tools',
  'inference',
] as const;

export type WitInterface = (typeof WIT_INTERFACES)[number];

/** The full import name, e.g. `agentos:kernel/log@0.1.0` (or another package's). */
export function importName(iface: string, pkg = PACKAGE, version = ABI_VERSION): string {
  return `${pkg}/${iface}@${version}`;
}

/** The key jco's glue reads the import object under (it drops the version). */
export function glueImportKey(iface: string, pkg = PACKAGE): string {
  return `${pkg}/${iface}`;
}

/** Splits `agentos:kernel/log@0.1.0` into its parts; null if it is not `pkg/iface[@version]`. */
export function parseImportName(name: string): { pkg: string; iface: string; version: string | null } | null {
  const m = /^([a-z][a-z0-9-]*:[a-z][a-z0-9-]*)\/([a-z][a-z0-9-]*)(?:@(.+))?$/.exec(name);
  if (!m) return null;
  return { pkg: m[1]!, iface: m[2]!, version: m[3] ?? null };
}

/** jco's JS name for a WIT function: kebab-case to camelCase (`next-u64` → `nextU64`). */
export function jsName(witName: string): string {
  return witName.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}
