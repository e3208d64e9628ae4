/**
 * The linker: grants + a component's imports → the import plan a worker builds the instance
 * from. It refuses, with an error naming the import, any import that is unknown, not provided
 * by this kernel, or not granted. Every linked function is a numbered hostcall that goes through
 * the dispatcher; nothing else is reachable from the guest.
 *
 * @example
 * const table = new HostcallTable(defaultCapabilities);
 * const grants = parseGrants(['log', 'working-memory'], table);
 * const plan = link(info.imports, grants, table, 'echo.wasm');
 * // At spawn, every problem at once: checkGrants(...).problems, importProblems(...)
 */
import { ABI_VERSION, glueImportKey, jsName, PACKAGE, parseImportName, WIT_INTERFACES } from '../base/abi.js';
import { AgentOSError, refusal } from '../base/errors.js';
import type { Capability, Grant, HostFunction } from '../sdk/capability.js';
import type { ServiceName } from '../sdk/services.js';
import type { ImportPlan } from '../worker/protocol.js';

export interface HostcallEntry {
  id: number;
  capability: Capability;
  /** WIT function name. */
  fn: string;
  /** `<cap>.<fn>`: the span and journal name. */
  span: string;
  impl: HostFunction<unknown, ServiceName>;
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

  /** The capability of interface `iface` in package `pkg`, if this kernel was given it. */
  of(pkg: string, iface: string): Capability | undefined {
    const c = this.byCapability.get(iface);
    return c && (c.package ?? PACKAGE) === pkg ? c : undefined;
  }

  /** The packages of the capabilities given beside the kernel's own, as `pkg@version`. */
  otherPackages(): string[] {
    const out = new Set<string>();
    for (const c of this.byCapability.values())
      if ((c.package ?? PACKAGE) !== PACKAGE) out.add(`${c.package}@${c.version}`);
    return [...out];
  }

  /** Grant names: the kernel's interfaces and those of the capabilities given beside them. */
  known(): string[] {
    const own = WIT_INTERFACES.filter((i) => i !== 'types') as string[];
    return [...own, ...[...this.byCapability.keys()].filter((n) => !own.includes(n))];
  }
}

export type { ImportPlan };

const KNOWN = new Set<string>(WIT_INTERFACES);

/** Grants parsed, and every problem found with them. */
export interface GrantCheck {
  grants: Map<string, Grant>;
  problems: AgentOSError[];
}

/**
 * Parses grants (`log`, `working-memory:read-only`), collecting every problem rather than
 * stopping at the first: AOS_E_UNKNOWN_CAPABILITY, AOS_E_CAPABILITY_UNAVAILABLE, and with
 * `once` (at spawn) AOS_E_BAD_CONFIG for a capability granted twice (`log,log`, or `ipc:send=a`
 * beside `ipc`): one grant carries a capability's whole scope, so a second one is a mistake.
 */
export function checkGrants(grants: readonly string[], table: HostcallTable, once = true): GrantCheck {
  const out = new Map<string, Grant>();
  const as = new Map<string, string>();
  const problems: AgentOSError[] = [];
  for (const raw of grants) {
    if (typeof raw !== 'string' || raw.trim() === '') {
      problems.push(
        new AgentOSError('AOS_E_UNKNOWN_CAPABILITY', `grant ${JSON.stringify(raw)} is empty or not a string`),
      );
      continue;
    }
    const at = raw.indexOf(':');
    const capability = (at === -1 ? raw : raw.slice(0, at)).trim();
    const scope = at === -1 ? '' : raw.slice(at + 1).trim();
    if ((!KNOWN.has(capability) && !table.provides(capability)) || capability === 'types') {
      problems.push(
        new AgentOSError(
          'AOS_E_UNKNOWN_CAPABILITY',
          `grant "${raw}" names no capability; known: ${table.known().join(', ')}`,
          { grant: raw },
        ),
      );
    } else if (!table.provides(capability)) {
      problems.push(
        new AgentOSError(
          'AOS_E_CAPABILITY_UNAVAILABLE',
          `grant "${raw}": this kernel does not provide ${capability} yet (it provides ${[...table.byCapability.keys()].join(', ')})`,
          { grant: raw },
        ),
      );
    } else if (once && as.has(capability)) {
      problems.push(
        new AgentOSError(
          'AOS_E_BAD_CONFIG',
          `grant "${raw}" repeats ${capability}, already granted as "${as.get(capability)}"; grant each capability once, with its whole scope`,
          { grant: raw },
        ),
      );
    } else {
      as.set(capability, raw);
      out.set(capability, { capability, scope });
    }
  }
  return { grants: out, problems };
}

/**
 * Parses grants, as `checkGrants`, throwing every problem at once. A capability granted twice
 * keeps its last grant here: records stored before spawn refused that still restore.
 * @throws AgentOSError AOS_E_UNKNOWN_CAPABILITY or AOS_E_CAPABILITY_UNAVAILABLE
 */
export function parseGrants(grants: readonly string[], table: HostcallTable): Map<string, Grant> {
  const { grants: parsed, problems } = checkGrants(grants, table, false);
  if (problems.length > 0) throw refusal('the grants', problems);
  return parsed;
}

/**
 * Every import the ABI does not know (AOS_E_UNKNOWN_IMPORT), the kernel does not provide
 * (AOS_E_CAPABILITY_UNAVAILABLE) or the grants do not allow (AOS_E_IMPORT_NOT_GRANTED), in
 * import order. `what` names the component (its path) or the agent.
 */
export function importProblems(
  imports: readonly string[],
  grants: ReadonlyMap<string, Grant>,
  table: HostcallTable,
  what: string,
): AgentOSError[] {
  const problems: AgentOSError[] = [];
  const others = table.otherPackages();
  for (const name of imports) {
    const parsed = parseImportName(name);
    const own = parsed?.pkg === PACKAGE;
    const given = parsed && !own ? table.of(parsed.pkg, parsed.iface) : undefined;
    if (!parsed || (own ? !KNOWN.has(parsed.iface) : !given)) {
      problems.push(
        new AgentOSError(
          'AOS_E_UNKNOWN_IMPORT',
          `${what} imports ${name}, which is not an interface of ${PACKAGE}@${ABI_VERSION}${others.length ? ` nor of ${others.join(', ')}` : ''}; a component may import only the kernel's interfaces`,
          { import: name },
        ),
      );
    } else if (parsed.version !== (own ? ABI_VERSION : given!.version)) {
      const speaks = own ? `${PACKAGE}@${ABI_VERSION}` : `${parsed.pkg}@${given!.version}`;
      problems.push(
        new AgentOSError(
          'AOS_E_UNKNOWN_IMPORT',
          `${what} imports ${name}, but this kernel speaks ${speaks}; rebuild the component against it`,
          { import: name },
        ),
      );
    } else if (own && parsed.iface === 'types') {
      // Types only: nothing to link or grant.
    } else if (!table.provides(parsed.iface)) {
      problems.push(
        new AgentOSError(
          'AOS_E_CAPABILITY_UNAVAILABLE',
          `${what} imports ${name}, which this kernel does not provide yet`,
          { import: name },
        ),
      );
    } else if (!grants.has(parsed.iface)) {
      const granted = [...grants.keys()];
      problems.push(
        new AgentOSError(
          'AOS_E_IMPORT_NOT_GRANTED',
          `${what} imports ${name} but was not granted ${parsed.iface} (granted: ${granted.length ? granted.join(', ') : 'nothing'})`,
          { import: name, capability: parsed.iface },
        ),
      );
    }
  }
  return problems;
}

/**
 * Checks every import against the ABI and the grants and returns the import plan.
 * @throws AgentOSError AOS_E_UNKNOWN_IMPORT, AOS_E_CAPABILITY_UNAVAILABLE or AOS_E_IMPORT_NOT_GRANTED, listing every import refused
 */
export function link(
  imports: readonly string[],
  grants: ReadonlyMap<string, Grant>,
  table: HostcallTable,
  what: string,
): ImportPlan {
  const problems = importProblems(imports, grants, table, what);
  if (problems.length > 0) throw refusal(what, problems);
  const plan: ImportPlan = {};
  for (const name of imports) {
    const { pkg, iface } = parseImportName(name)!;
    if (iface === 'types' && pkg === PACKAGE) continue;
    const fns: Record<string, number> = {};
    for (const e of table.entries) if (e.capability.name === iface) fns[jsName(e.fn)] = e.id;
    plan[glueImportKey(iface, pkg)] = fns;
  }
  return plan;
}
