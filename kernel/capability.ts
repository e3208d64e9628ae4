/**
 * The contract every capability implements, in three steps:
 * 1. `init(services)`: wire once when the kernel opens (open databases, read config);
 * 2. `configure(agent, grant)`: per agent, from its grant, build the agent's private view
 *    (namespace, limits, restored state); it never mutates kernel-wide defaults;
 * 3. `functions`: the host side of each WIT function, called by the dispatcher with that view.
 *
 * A capability lives in `hostcalls/<name>/`, never imports another capability, and plugs in with
 * one line in `hostcalls/index.ts`.
 *
 * @example
 * export const clock: Capability<ClockView> = {
 *   name: 'clock',
 *   configure: () => ({ last: 0n }),
 *   functions: { now: (ctx) => ctx.services.clock.now() },
 * };
 */
import type { Logger } from 'pino';
import type { Bus } from './bus.js';
import type { Clock } from './clock.js';
import type { EventHub } from './events.js';
import type { AgentRecord } from './store/process-table.js';
import type { Store } from './store/store.js';

/** What the kernel lends capabilities. */
export interface KernelServices {
  readonly store: Store;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Messages into agents' mailboxes (the ipc capability sends through it). */
  readonly bus: Bus;
  /** The kernel's events (the events capability reads them; capabilities may emit). */
  readonly events: EventHub;
}

/** A grant as written (`working-memory` or `working-memory:read-only`), parsed. */
export interface Grant {
  readonly capability: string;
  /** Everything after the first `:`, or '' (its meaning is the capability's). */
  readonly scope: string;
}

/** The per-call context the dispatcher passes to a host function. */
export interface CallContext<View> {
  readonly agent: Readonly<AgentRecord>;
  /** The agent's private view, as `configure` built it. */
  readonly view: View;
  readonly services: KernelServices;
}

/**
 * A host function: the WIT arguments as jco lifted them (already type-checked by the glue), in
 * order. Returns the WIT result's ok value, or throws `GuestError` for `err(error)`.
 */
export type HostFunction<View> = (ctx: CallContext<View>, ...args: never[]) => unknown;

export interface Capability<View = unknown, Shared = unknown> {
  /** The WIT interface name in agentos:kernel, e.g. `working-memory`. */
  readonly name: string;
  /** Host implementations by WIT function name (kebab-case, as in the .wit file). */
  readonly functions: Readonly<Record<string, HostFunction<View>>>;
  /**
   * What a call past the agent's rate limit (`limits.hostcallsPerSecond`) gets: `error` (the
   * default) returns `quota-exceeded` (for a function without an error result, the guest traps);
   * `drop` skips the call and returns nothing, for calls whose loss is harmless (log lines).
   */
  readonly overRate?: 'error' | 'drop';
  /** Wires the capability once per kernel; what it returns is this kernel's shared state. */
  init?(services: KernelServices): Shared;
  /**
   * Builds the agent's view from its grant and its persisted state (`agent.capState[name]`).
   * Throws AgentOSError('AOS_E_BAD_CONFIG') for a grant scope it does not understand.
   */
  configure(agent: Readonly<AgentRecord>, grant: Grant, shared: Shared, services: KernelServices): View;
  /**
   * State to persist with the agent after an invocation (undefined = nothing). Return a
   * primitive (string, number): a changed value is saved at once.
   */
  persist?(view: View): unknown;
  /** Releases what `init` opened. */
  close?(shared: Shared): Promise<void>;
}

/** Erases a capability's types for the registry. */
export function defineCapability<View, Shared = undefined>(c: Capability<View, Shared>): Capability {
  return c as unknown as Capability;
}
