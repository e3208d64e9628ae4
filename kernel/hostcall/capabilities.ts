/**
 * The capabilities a kernel was given (`KernelOptions.capabilities`): checked at open, each
 * handed only the services it names, wired (`config`, `init`), then configured per agent and
 * told when an agent goes (`drop`) and when the kernel closes. The kernel knows capabilities only
 * through this module and the contract in sdk/.
 *
 * @example
 * const host = await CapabilityHost.check([...defaultCapabilities, tally], { tally: { max: 9 } });
 * host.start(parts);                        // once the bus and the events exist
 * host.configure('tally', record, grant);   // the agent's view
 */
import type { Logger } from 'pino';
import { ABI_VERSION, glueImportKey, PACKAGE, WIT_INTERFACES } from '../base/abi.js';
import type { Clock, Timers } from '../base/clock.js';
import { AgentOSError } from '../base/errors.js';
import type { Capability, Grant, WorkerSide } from '../sdk/capability.js';
import { type Mailer, SERVICE_NAMES, type ServiceName, type Services } from '../sdk/services.js';
import type { EventHub } from '../store/events.js';
import type { AgentRecord } from '../store/process-table.js';
import type { Store } from '../store/store.js';
import { HostcallTable, type ImportPlan } from './linker.js';

/** The kernel's parts the services are views of. */
export interface KernelParts {
  readonly store: Store;
  readonly clock: Clock;
  readonly timers: Timers;
  readonly logger: Logger;
  readonly bus: Mailer;
  readonly events: EventHub;
}

const bad = (why: string): AgentOSError => new AgentOSError('AOS_E_BAD_CONFIG', why);
const WIT_NAME = /^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$/;
const WIT_PACKAGE = /^[a-z][a-z0-9]*(?:-[a-z0-9]+)*:[a-z][a-z0-9]*(?:-[a-z0-9]+)*$/;
const VERSION = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/;

/** The problems with one capability's declaration (its shape, its WIT names, its needs). */
function shapeProblems(c: Capability, at: number): string[] {
  if (typeof c !== 'object' || c === null) return [`capabilities[${at}] is not a capability object`];
  const what = typeof c.name === 'string' ? `capability "${c.name}"` : `capabilities[${at}]`;
  const out: string[] = [];
  if (typeof c.name !== 'string' || !WIT_NAME.test(c.name))
    out.push(`${what}: its name must be a WIT interface name (kebab-case), got ${JSON.stringify(c.name)}`);
  const pkg = c.package ?? PACKAGE;
  if (pkg === PACKAGE) {
    if (!(WIT_INTERFACES as readonly string[]).includes(c.name) || c.name === 'types')
      out.push(
        `${what}: ${PACKAGE} has no interface "${c.name}"; a capability of its own names its own package`,
      );
    if (c.version !== undefined && c.version !== ABI_VERSION)
      out.push(`${what}: ${PACKAGE} is at ${ABI_VERSION}, not ${c.version}`);
  } else {
    if (typeof pkg !== 'string' || !WIT_PACKAGE.test(pkg))
      out.push(`${what}: package must be a WIT package name (namespace:name), got ${JSON.stringify(pkg)}`);
    if (typeof c.version !== 'string' || !VERSION.test(c.version))
      out.push(`${what}: package ${pkg} needs a version (x.y.z), got ${JSON.stringify(c.version)}`);
  }
  if (typeof c.configure !== 'function') out.push(`${what}: configure must be a function`);
  if (typeof c.functions !== 'object' || c.functions === null)
    out.push(`${what}: functions must be an object`);
  else
    for (const [fn, impl] of Object.entries(c.functions)) {
      if (!WIT_NAME.test(fn)) out.push(`${what}: function ${JSON.stringify(fn)} is not a WIT function name`);
      if (typeof impl !== 'function') out.push(`${what}: functions.${fn} is not a function`);
    }
  for (const need of c.needs ?? [])
    if (!SERVICE_NAMES.includes(need))
      out.push(
        `${what}: needs ${JSON.stringify(need)}, which is no service (there are ${SERVICE_NAMES.join(', ')})`,
      );
  const posted = Object.keys(c.posted ?? {});
  for (const fn of posted)
    if (!c.functions?.[fn]) out.push(`${what}: posted.${fn} has no function of that name`);
  if (posted.length > 0 && typeof c.worker !== 'string')
    out.push(`${what}: posted functions need a worker module (worker: its URL)`);
  if (c.outside !== undefined && !Array.isArray(c.outside))
    out.push(`${what}: outside must be a list of function names`);
  for (const fn of Array.isArray(c.outside) ? c.outside : []) {
    if (!c.functions?.[fn])
      out.push(`${what}: outside names ${JSON.stringify(fn)}, which is no function of it`);
    else if (posted.includes(fn))
      out.push(`${what}: ${fn} is both posted and outside (an outside effect must wait for its record)`);
  }
  return out;
}

/** Imports a capability's worker module and checks it answers exactly its posted functions. */
async function workerProblems(c: Capability): Promise<string[]> {
  if (c.worker === undefined) return [];
  let side: WorkerSide | undefined;
  try {
    side = ((await import(c.worker)) as { local?: WorkerSide }).local;
  } catch (e) {
    return [
      `capability "${c.name}": its worker module ${c.worker} does not load: ${(e as Error)?.message ?? e}`,
    ];
  }
  if (typeof side !== 'object' || side === null)
    return [`capability "${c.name}": its worker module ${c.worker} exports no \`local\``];
  const posted = Object.keys(c.posted ?? {}).sort();
  const local = Object.keys(side).sort();
  if (posted.join() === local.join()) return [];
  return [
    `capability "${c.name}": its worker module ${c.worker} answers ${local.join(', ') || 'nothing'} but it posts ${posted.join(', ') || 'nothing'}`,
  ];
}

/**
 * Runs a capability's hook; what it throws that is not coded (a bug in the capability) becomes
 * AOS_E_INTERNAL naming the capability and the hook, with the original as its cause.
 */
function blame<T>(name: string, what: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof AgentOSError) throw e;
    throw new AgentOSError(
      'AOS_E_INTERNAL',
      `capability "${name}" failed to ${what}: ${(e as Error)?.message ?? e}`,
      { capability: name },
      { cause: e },
    );
  }
}

export class CapabilityHost {
  readonly table: HostcallTable;
  private readonly byName = new Map<string, Capability>();
  private readonly shared = new Map<string, unknown>();
  private readonly views = new Map<string, object>();
  private logger: Logger | undefined;

  private constructor(
    private readonly list: readonly Capability[],
    private readonly configs: Map<string, unknown>,
  ) {
    for (const c of list) this.byName.set(c.name, c);
    this.table = new HostcallTable(list);
  }

  /**
   * Checks the capabilities and their options, every problem at once: each declaration, names
   * given twice, options for a capability not given, and each capability's own `config`.
   * @throws AgentOSError AOS_E_BAD_CONFIG listing every problem
   */
  static async check(list: unknown, config: unknown): Promise<CapabilityHost> {
    if (!Array.isArray(list)) throw bad(`capabilities must be an array of capabilities, got ${typeof list}`);
    const caps = list as Capability[];
    const problems = caps.flatMap((c, i) => shapeProblems(c, i));
    const seen = new Set<string>();
    for (const c of caps) {
      if (seen.has(c?.name)) problems.push(`capability "${c.name}" is given twice`);
      seen.add(c?.name);
    }
    if (problems.length === 0) for (const c of caps) problems.push(...(await workerProblems(c)));
    const configs = new Map<string, unknown>();
    if (config !== undefined && (typeof config !== 'object' || config === null || Array.isArray(config)))
      problems.push(`config must be an object of options by capability name, got ${JSON.stringify(config)}`);
    else {
      const given = (config ?? {}) as Record<string, unknown>;
      for (const name of Object.keys(given))
        if (!seen.has(name)) problems.push(`config.${name}: no capability "${name}" was given`);
      for (const c of problems.length === 0 ? caps : []) {
        const raw = given[c.name];
        if (!c.config) {
          if (raw !== undefined) problems.push(`config.${c.name}: capability "${c.name}" takes no options`);
          continue;
        }
        try {
          configs.set(c.name, c.config(raw));
        } catch (e) {
          problems.push(`config.${c.name}: ${(e as Error)?.message ?? e}`);
        }
      }
    }
    if (problems.length > 0) {
      const e = bad(problems.length === 1 ? problems[0]! : `the capabilities:\n  ${problems.join('\n  ')}`);
      throw Object.assign(e, { details: { problems } });
    }
    return new CapabilityHost(caps, configs);
  }

  /** Hands each capability its services and runs its `init`, in the order given. */
  start(parts: KernelParts): void {
    this.logger = parts.logger;
    const all: Services = {
      clock: parts.clock,
      timers: parts.timers,
      logger: parts.logger,
      storage: { db: (name, options) => parts.store.db(name, options), batch: parts.store.batch },
      mailer: parts.bus,
      events: parts.events,
    };
    for (const c of this.list) {
      const view: Partial<Record<ServiceName, unknown>> = {};
      for (const name of SERVICE_NAMES) {
        if (c.needs?.includes(name)) view[name] = all[name];
        else
          Object.defineProperty(view, name, {
            get: () => {
              throw new AgentOSError(
                'AOS_E_INTERNAL',
                `capability "${c.name}" uses the ${name} service but does not name it in needs`,
              );
            },
          });
      }
      this.views.set(c.name, Object.freeze(view));
      this.shared.set(
        c.name,
        blame(c.name, 'start (init)', () => c.init?.(view as Services, this.configs.get(c.name))),
      );
    }
  }

  get(name: string): Capability | undefined {
    return this.byName.get(name);
  }

  /** The services capability `name` asked for. */
  services(name: string): Services {
    return this.views.get(name) as Services;
  }

  /** The agent's view in capability `name`, from its grant (the scope is parsed here). */
  configure(name: string, record: Readonly<AgentRecord>, grant: Grant): unknown {
    const c = this.byName.get(name)!;
    return blame(name, `configure ${record.id}`, () =>
      c.configure(record, grant, this.shared.get(name), this.services(name)),
    );
  }

  /** The worker modules an import plan needs: glue key → module URL. */
  workerModules(plan: ImportPlan): Record<string, string> {
    const out: Record<string, string> = {};
    for (const c of this.list)
      if (c.worker && plan[glueImportKey(c.name, c.package)])
        out[glueImportKey(c.name, c.package)] = c.worker;
    return out;
  }

  /** Agent `id` was terminated: each capability removes what it kept for it. */
  drop(id: string): void {
    for (const c of this.list) {
      try {
        c.drop?.(id, this.shared.get(c.name));
      } catch (e) {
        // The agent is gone either way; what the capability kept is left, and said.
        this.logger?.error(
          { agent: id, capability: c.name, err: e },
          'a capability failed to drop a terminated agent',
        );
      }
    }
  }

  /** Each capability's state of agent `id` that it can export, by capability name. */
  exportState(id: string): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const c of this.list) if (c.export) out[c.name] = c.export(id, this.shared.get(c.name));
    return out;
  }

  /** Puts back what `exportState` returned, for agent `id`. */
  importState(id: string, state: Record<string, unknown>): void {
    for (const [name, s] of Object.entries(state)) {
      const c = this.byName.get(name);
      if (!c?.import) throw bad(`no capability "${name}" here takes state to import`);
      c.import(id, s, this.shared.get(name));
    }
  }

  /** Gives agent `to` a copy of `from`'s state in every capability that keeps some. */
  fork(from: string, to: string): void {
    for (const c of this.list) c.fork?.(from, to, this.shared.get(c.name));
  }

  async close(): Promise<void> {
    for (const c of this.list) await c.close?.(this.shared.get(c.name));
  }
}
