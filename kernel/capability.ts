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
import type { Clock, Timers } from './clock.js';
import type { EventHub } from './events.js';
import type { AgentRecord } from './store/process-table.js';
import type { Store } from './store/store.js';
import type { Txn } from './txn.js';

/** What the kernel lends capabilities. */
export interface KernelServices {
  readonly store: Store;
  readonly clock: Clock;
  /** Timers on the kernel clock: every timeout a capability acts on (a request's) uses them. */
  readonly timers: Timers;
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
  /**
   * The transaction of the call being served (txn.ts): a function that changes state stages the
   * change here (`onCommit`, with `onAbort` to give back what it reserved) and reads the call's
   * own staged writes from it, so the change lands with the call's outcome or not at all.
   */
  readonly txn: Txn;
}

/**
 * A host function: the WIT arguments as jco lifted them (already type-checked by the glue), in
 * order. Returns the WIT result's ok value, or throws `GuestError` for `err(error)`.
 */
export type HostFunction<View> = (ctx: CallContext<View>, ...args: never[]) => unknown;

/**
 * The kernel's side of a call the worker answered itself (see `Capability.posted`): it runs
 * after the guest went on with `result`, so it cannot fail the guest any more; it may log.
 */
export type PostedFunction<View> = (ctx: CallContext<View>, result: unknown, ...args: never[]) => void;

/**
 * The worker's side of a function it may answer itself, one per instance. Whatever it needs to
 * answer (a credit) comes from the kernel as the aside of a blocking answer.
 */
export interface LocalFunction {
  /** The answer for these arguments and what giving it commits, or null: ask the kernel. */
  answer(args: unknown[]): { value: unknown; commit(): void } | null;
  /** The call goes to the kernel the blocking way (it will answer with a fresh aside or none). */
  asking?(args: unknown[]): void;
  /** The aside that came with a blocking answer. */
  told?(args: unknown[], aside: unknown): void;
  /** The worker's command ended: whatever the kernel granted for it lapses. */
  reset?(): void;
}

/** A host function's result with an aside for the worker's side of the capability (never journaled). */
export class WithAside {
  constructor(
    readonly value: unknown,
    readonly aside: unknown,
  ) {}
}

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
  /**
   * Functions the worker may answer itself, by WIT name: the guest goes on at once and the call
   * is posted to the kernel (bridge/post-ring.ts), which applies it here, in order, before it
   * serves any later call of that worker, and journals it like any other call. The worker's side
   * is registered in `hostcalls/worker-side.ts`.
   */
  readonly posted?: Readonly<Record<string, PostedFunction<View>>>;
  /**
   * The agent's worker command ended and every call it posted is applied: what was granted for
   * the command (credits) goes back.
   */
  commandEnded?(ctx: CallContext<View>): void;
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
