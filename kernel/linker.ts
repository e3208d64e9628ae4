/**
 * The linker: grants + a component's imports → the import plan a worker builds the instance
 * from. It refuses, with an error naming the import, any import that is unknown, not provided
 * by this kernel, or not granted. Every linked function is a numbered hostcall that goes through
 * the dispatcher; nothing else is reachable from the guest.
 *
 * @example
 * const table = new HostcallTable(CAPABILITIES);
 * const grants = parseGrants(['log', 'working-memory'], table);
 * const plan = link(info.imports, grants, table, 'echo.wasm');
 */
import { ABI_VERSION, glueImportKey, jsName, PACKAGE, parseImportName, WIT_INTERFACES } from './abi.js';
import type { Capability, Grant, HostFunction } from './capability.js';
import { AgentOSError } from './errors.js';

export interface HostcallEntry {
  id: number;
  capability: Capability;
  /** WIT function name. */
  fn: string;
  /** `<cap>.<fn>`: the span and journal name. */
  span: string;
  impl: HostFunction<unknown>;
}

/** Numbers every host function of every provided capability. */
export class HostcallTable {
  readonly entries: HostcallEntry[] = [];
  readonly byCapability = new Map<string, Capability>();

  constructor(capabilities: readonly Capability[]) {
    for (const capability of capabilities) {
      this.byCapability.set(capability.name, capability);
      for (const [fn, impl] of Object.entries(capability.functions)) {
        this.entries.push({
          id: this.entries.length,
          capability,
          fn,
          span: `${capability.name}.${fn}`,
          impl,
        });
      }
    }
  }

  provides(iface: string): boolean {
    return this.byCapability.has(iface);
  }
}

/** What a worker needs to build the import object: glue key → JS function name → hostcall id. */
export type ImportPlan = Record<string, Record<string, number>>;

const KNOWN = new Set<string>(WIT_INTERFACES);

/**
 * Parses grants (`log`, `working-memory:read-only`).
 * @throws AgentOSError AOS_E_UNKNOWN_CAPABILITY or AOS_E_CAPABILITY_UNAVAILABLE
 */
export function parseGrants(grants: readonly string[], table: HostcallTable): Map<string, Grant> {
  const out = new Map<string, Grant>();
  for (const raw of grants) {
    if (typeof raw !== 'string' || raw.trim() === '') {
      throw new AgentOSError(
        'AOS_E_UNKNOWN_CAPABILITY',
        `grant ${JSON.stringify(raw)} is empty or not a string`,
      );
    }
    const at = raw.indexOf(':');
    const capability = (at === -1 ? raw : raw.slice(0, at)).trim();
    const scope = at === -1 ? '' : raw.slice(at + 1).trim();
    if (!KNOWN.has(capability) || capability === 'types') {
      throw new AgentOSError(
        'AOS_E_UNKNOWN_CAPABILITY',
        `grant "${raw}" names no capability; known: ${WIT_INTERFACES.filter((i) => i !== 'types').join(', ')}`,
        { grant: raw },
      );
    }
    if (!table.provides(capability)) {
      throw new AgentOSError(
        'AOS_E_CAPABILITY_UNAVAILABLE',
        `grant "${raw}": this kernel does not provide ${capability} yet (it provides ${[...table.byCapability.keys()].join(', ')})`,
        { grant: raw },
      );
    }
    out.set(capability, { capability, scope });
  }
  return out;
}

/**
 * Checks every import against the ABI and the grants and returns the import plan.
 * @throws AgentOSError AOS_E_UNKNOWN_IMPORT, AOS_E_CAPABILITY_UNAVAILABLE or AOS_E_IMPORT_NOT_GRANTED
 */
export function link(
  imports: readonly string[],
  grants: ReadonlyMap<string, Grant>,
  table: HostcallTable,
  what: string,
): ImportPlan {
  const plan: ImportPlan = {};
  for (const name of imports) {
    const parsed = parseImportName(name);
    if (!parsed || parsed.pkg !== PACKAGE || !KNOWN.has(parsed.iface)) {
      throw new AgentOSError(
        'AOS_E_UNKNOWN_IMPORT',
        `${what} imports ${name}, which is not an interface of ${PACKAGE}@${ABI_VERSION}; a component may import only the kernel's interfaces`,
        { import: name },
      );
    }
    if (parsed.version !== ABI_VERSION) {
      throw new AgentOSError(
        'AOS_E_UNKNOWN_IMPORT',
        `${what} imports ${name}, but this kernel speaks ${PACKAGE}@${ABI_VERSION}; rebuild the component against it`,
        { import: name },
      );
    }
    if (parsed.iface === 'types') continue;
    if (!table.provides(parsed.iface)) {
      throw new AgentOSError(
        'AOS_E_CAPABILITY_UNAVAILABLE',
        `${what} imports ${name}, which this kernel does not provide yet`,
        { import: name },
      );
    }
    if (!grants.has(parsed.iface)) {
      const granted = [...grants.keys()];
      throw new AgentOSError(
        'AOS_E_IMPORT_NOT_GRANTED',
        `${what} imports ${name} but was not granted ${parsed.iface} (granted: ${granted.length ? granted.join(', ') : 'nothing'})`,
        { import: name, capability: parsed.iface },
      );
    }
  }
  for (const name of imports) {
    const iface = parseImportName(name)!.iface;
    if (iface === 'types') continue;
    const fns: Record<string, number> = {};
    for (const e of table.entries) if (e.capability.name === iface) fns[jsName(e.fn)] = e.id;
    plan[glueImportKey(iface)] = fns;
  }
  return plan;
}
