/**
 * The contract every capability implements. A capability is one WIT interface: its functions,
 * the grant that allows them (and the grant's scope), the services it needs from the kernel, its
 * options, and its state hooks. The kernel calls it in this order:
 * 1. `config(raw)` once at open: validates `KernelOptions.config[name]`;
 * 2. `init(services, config)` once at open: opens its databases, builds its shared state;
 * 3. `configure(agent, grant, shared, services)` per agent (at spawn, before anything is
 *    stored, and at each restore): parses the grant's scope and builds the agent's view;
 * 4. `functions[fn](ctx, ...args)` per call, with that view;
 * 5. `drop(agent)` when the agent is terminated; `close(shared)` when the kernel closes.
 *
 * A capability imports only `kernel/sdk/` (the package's `agentos/sdk`), never the kernel's
 * other modules nor another capability; it reaches the kernel through the services it `needs`.
 * It is added by passing it to `Kernel.open({ capabilities: [...defaultCapabilities, it] })`.
 *
 * @example
 * export const stamp = defineCapability({
 *   name: 'stamp',
 *   package: 'acme:stamp',
 *   version: '0.1.0',
 *   needs: ['clock'],
 *   configure: (agent, grant) => (rejectScope(grant, agent.id), {}),
 *   functions: { now: (ctx) => ctx.services.clock.now() },
 * });
 */
import type { AgentRecord } from '../store/process-table.js';
import type { CallTxn, ServiceName, Services } from './services.js';

/** A grant as written (`working-memory` or `working-memory:read-only`), parsed. */
export interface Grant {
  readonly capability: string;
  /** Everything after the first `:`, or '' (its meaning is the capability's). */
  readonly scope: string;
}

/** The agent a capability serves, as the kernel records it (read-only). */
export type AgentView = Readonly<AgentRecord>;

/** The per-call context the kernel passes to a host function. */
export interface CallContext<View, Need extends ServiceName = never> {
  readonly agent: AgentView;
  /** The agent's private view, as `configure` built it. */
  readonly view: View;
  /** The services the capability named in `needs`. */
  readonly services: Pick<Services, Need>;
  /** The transaction of the call being served: every change is staged on it. */
  readonly txn: CallTxn;
}

/**
 * A host function: the WIT arguments as the glue lifted them (already type-checked), in order.
 * Returns the WIT result's ok value (or a `WithNote`), or throws `GuestError` for `err(error)`.
 */
export type HostFunction<View, Need extends ServiceName = never> = (
  ctx: CallContext<View, Need>,
  ...args: never[]
) => unknown;

/**
 * The kernel's side of a call the worker answered itself (see `Capability.posted`): it runs
 * after the guest went on with `result`, so it cannot fail the guest any more; it may log.
 */
export type PostedFunction<View, Need extends ServiceName = never> = (
  ctx: CallContext<View, Need>,
  result: unknown,
  ...args: never[]
) => void;

/**
 * The worker's side of a function it may answer itself, one per instance. Whatever it needs to
 * answer (a credit) comes from the kernel as the note of a blocking answer (`WithNote`).
 */
export interface LocalFunction {
  /** The answer for these arguments and what giving it commits, or null: ask the kernel. */
  answer(args: unknown[]): { value: unknown; commit(): void } | null;
  /** The call is about to go to the kernel the blocking way (its answer may carry a note). */
  willAsk?(args: unknown[]): void;
  /** The note that came with a blocking answer. */
  onNote?(args: unknown[], note: unknown): void;
  /** The worker's command ended: whatever the kernel granted for it is void. */
  commandEnded?(): void;
}

/**
 * What a capability's worker module (`Capability.worker`) exports: the worker's side of each
 * posted function, by WIT name, made once per instance.
 */
export type WorkerSide = Readonly<Record<string, () => LocalFunction>>;

/** A host function's result with a note for the worker's side of the capability (never journaled). */
export class WithNote {
  constructor(
    readonly value: unknown,
    readonly note: unknown,
  ) {}
}

export interface Capability<
  View = unknown,
  Shared = unknown,
  Need extends ServiceName = ServiceName,
  Config = unknown,
> {
  /** The WIT interface name, which is also the grant's name, e.g. `working-memory`. */
  readonly name: string;
  /** The WIT package the interface is in: `agentos:kernel` (the default) or the capability's own. */
  readonly package?: string;
  /** The package's version (required outside `agentos:kernel`, whose version is the ABI's). */
  readonly version?: string;
  /** The services `init`, `configure` and the functions use; only these are handed over. */
  readonly needs?: readonly Need[];
  /** Host implementations by WIT function name (kebab-case, as in the .wit file). */
  readonly functions: Readonly<Record<string, HostFunction<View, Need>>>;
  /**
   * What a call past the agent's rate limit (`limits.hostcallsPerSecond`) gets: `error` (the
   * default) returns `quota-exceeded` (for a function without an error result, the guest traps);
   * `drop` skips the call and returns nothing, for calls whose loss is harmless (log lines).
   */
  readonly overRate?: 'error' | 'drop';
  /**
   * Functions the worker may answer itself, by WIT name: the guest goes on at once and the call
   * is posted to the kernel, which applies it here, in order, before it serves any later call of
   * that worker, and journals it like any other call. Their worker side is in `worker`.
   */
  readonly posted?: Readonly<Record<string, PostedFunction<View, Need>>>;
  /**
   * Functions whose effect leaves the data dir (an HTTP request, a tool or model call), by WIT
   * name: an invocation's transaction cannot undo them. Each call's result is committed to disk
   * before the guest sees it, so when the same message runs again (after a crash, a lost worker,
   * a kill -9 of the kernel), its call at the same place with the same arguments is answered from
   * that record instead of reaching out twice. The answer then always waits for the disk. Calls
   * made by `init` are not covered (no message runs yet).
   */
  readonly outside?: readonly string[];
  /**
   * The URL of the module whose `local` export (a `WorkerSide`) answers the `posted` functions in
   * the worker, e.g. `new URL('./local.js', import.meta.url).href`. Required with `posted`.
   */
  readonly worker?: string;
  /**
   * Validates this capability's options (`KernelOptions.config[name]`, undefined when none are
   * given) and returns them as `init` takes them.
   * @throws AgentOSError AOS_E_BAD_CONFIG naming what is wrong
   */
  config?(raw: unknown): Config;
  /** Wires the capability once per kernel; what it returns is this kernel's shared state. */
  init?(services: Pick<Services, Need>, config: Config): Shared;
  /**
   * Parses the grant's scope and builds the agent's view from it and the agent's persisted state
   * (`agent.capState[name]`). Called at spawn before anything is stored, so a scope it does not
   * understand is refused there: throw AgentOSError('AOS_E_BAD_CONFIG'). Never mutates `shared`'s
   * kernel-wide defaults.
   */
  configure(agent: AgentView, grant: Grant, shared: Shared, services: Pick<Services, Need>): View;
  /**
   * State to persist with the agent after an invocation (undefined = nothing). Return a
   * primitive (string, number): a changed value is saved at once.
   */
  persist?(view: View): unknown;
  /** The agent's worker command ended and every call it posted is applied. */
  commandEnded?(ctx: CallContext<View, Need>): void;
  /** The agent was terminated: remove what the capability keeps for it (in the write batch). */
  drop?(agent: string, shared: Shared): void;
  /** The agent's state in this capability, as JSON-able data (for migration and snapshots). */
  export?(agent: string, shared: Shared): unknown;
  /** Puts back state `export` returned, for an agent that holds none yet. */
  import?(agent: string, state: unknown, shared: Shared): void;
  /** Gives agent `to` a copy of `from`'s state. */
  fork?(from: string, to: string, shared: Shared): void;
  /** Releases what `init` opened. */
  close?(shared: Shared): Promise<void>;
}

/** Erases a capability's types for the kernel's list (its own code keeps them). */
export function defineCapability<
  View,
  Shared = undefined,
  Need extends ServiceName = never,
  Config = undefined,
>(c: Capability<View, Shared, Need, Config>): Capability {
  return c as unknown as Capability;
}
