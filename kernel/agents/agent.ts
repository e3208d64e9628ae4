/**
 * An agent's in-memory runtime beside its persisted record: its configured capability views,
 * its import plan, its queue of undelivered messages and who waits on them, and where its
 * resident instance lives.
 *
 * Its run state, and the one way each part changes:
 * - where its instance lives (`worker`): `residentOn` and `instanceGone`, nothing else;
 * - a call holding a worker (`busy`, the worker's `busy`, the scheduler's `Running` entry for
 *   that worker, which also says whose hostcalls the worker's channels carry): begun by
 *   `Executor.occupy`, ended by `Executor.vacate`;
 * - who waits on a message: added by `outcome`, leaving only through `takeWaiter`;
 * - its lifecycle state (`record.state`): asked for through agents/lifecycle.ts (suspend, resume,
 *   terminate); a call's outcome sets crashed and ready (exec/outcomes.ts, exec/delivery.ts), a
 *   failed first start terminated (kernel.ts), and recovery at open crashed (agents.ts).
 */

import type { Timers } from '../base/clock.js';
import { AgentOSError } from '../base/errors.js';
import type { Served } from '../bridge/channel.js';
import type { ImportPlan } from '../hostcall/linker.js';
import type { Txn } from '../hostcall/txn.js';
import type { LoadedComponent } from '../loader/loader.js';
import type { CallContext, Grant } from '../sdk/capability.js';
import type { ServiceName } from '../sdk/services.js';
import type { StoredMessage } from '../store/message.js';
import type { AgentRecord } from '../store/process-table.js';
import { MessageQueue } from './queue.js';
import type { TokenBucket } from './rate-limit.js';

export interface Waiter {
  resolve(value: unknown): void;
  reject(error: Error): void;
  /**
   * An outside caller (`kernel.send`, `invoke`): under durability `strict` it is answered once the
   * outcome is on disk. A caller inside the kernel (an agent's `ipc.call`) is answered at once.
   */
  external: boolean;
  /** The outcome is known (its answer may still wait for the disk): a timeout no longer applies. */
  answered?(): void;
}

/** A unit of work for an agent: a message for `handle`, or a skill call. */
export interface Work {
  message: StoredMessage;
}

/** What an agent knows of the worker its instance lives on. */
export interface Residence {
  readonly thread: number;
  readonly residents: Set<string>;
}

/** The error for a message or call to terminated agent `id`. */
export const terminated = (id: string, exported?: AgentRecord['exported']): AgentOSError =>
  exported
    ? new AgentOSError(
        'AOS_E_AGENT_EXPORTED',
        `agent ${id} was exported (bundle ${exported.bundle.slice(0, 12)}…, ${new Date(exported.at).toISOString()}): it runs where that bundle is imported, not here`,
        { agent: id },
      )
    : new AgentOSError('AOS_E_AGENT_TERMINATED', `agent ${id} is terminated`, { agent: id });

/** What an operation holding an agent does to it, for the error a second one gets. */
const HELD: Record<string, string> = { upgrade: 'upgraded', fork: 'forked', export: 'exported' };

export class AgentRuntime {
  /** Capability name → the context its host functions receive. */
  readonly contexts = new Map<string, CallContext<unknown, ServiceName>>();
  /** Undelivered messages, oldest first (mirrors the durable mailbox). */
  readonly queue = new MessageQueue<StoredMessage>();
  /** Message id → whoever awaits its outcome. */
  private readonly waiters = new Map<number, Waiter>();
  /** The loaded component (transpiled and compiled), once needed. */
  component: Promise<LoadedComponent> | undefined;
  private resident: number | null = null;
  /** An invocation (or instance start) is in flight. */
  busy = false;
  /** How many messages at the head of the queue are in flight (a batch: more than 1). */
  inFlight = 0;
  /** Mailbox places promised to senders holding credits (see Bus.reserve). */
  reserved = 0;
  /**
   * How many messages still go one at a time, not batched: a batch that lost its worker sets it
   * to its size, and each settled message counts it down, so the message that killed the worker
   * is met alone.
   */
  unbatched = 0;
  /** Fuel used in the current one-second window (see budgets.ts). */
  readonly window = { start: 0, used: 0 };
  /** Message id → times it was put back because the window budget ran out mid-call. */
  readonly requeues = new Map<number, number>();
  /** Not runnable before this kernel-clock time: its last delivery crashed (backoff). */
  retryAt = 0;
  /** Virtual time: fuel used divided by weight (see scheduler.ts). */
  vtime = 0;
  /** Hostcall rate limits in force, by capability. */
  readonly buckets = new Map<string, TokenBucket>();
  /** The transaction of the call whose hostcalls are being served now (txn.ts), if any. */
  txn: Txn | null = null;

  /**
   * Held while its component is replaced (kernel/upgrade.ts): no new call starts until the
   * upgrade ends.
   */
  held = false;
  /** Who holds it: an upgrade, a fork, or the kernel taking its state (dormancy, a checkpoint). */
  heldBy: 'upgrade' | 'fork' | 'export' | 'dormancy' | 'checkpoint' | null = null;
  private readonly unholders: (() => void)[] = [];

  /**
   * Holds the agent for `by`, once the kernel (which holds it only while it takes the agent's
   * state) has let go. @throws AgentOSError AOS_E_BAD_STATE while an upgrade or a fork holds it
   */
  async hold(by: 'upgrade' | 'fork' | 'export'): Promise<void> {
    while (this.held && (this.heldBy === 'dormancy' || this.heldBy === 'checkpoint'))
      await new Promise<void>((r) => this.unholders.push(r));
    if (this.held)
      throw new AgentOSError(
        'AOS_E_BAD_STATE',
        `${this.id} is being ${HELD[this.heldBy ?? 'upgrade'] ?? 'changed'}`,
        {
          agent: this.id,
        },
      );
    this.held = true;
    this.heldBy = by;
  }

  /** Lets go of the agent (whoever held it). */
  unhold(): void {
    this.held = false;
    this.heldBy = null;
    for (const r of this.unholders.splice(0)) r();
  }
  /**
   * Set in a replay's isolated kernel (kernel/replay.ts): its hostcalls are answered from the
   * recorded journal, not by the capabilities.
   */
  replay: { answer(fn: string, request: Uint8Array): Served; quiet?: boolean } | null = null;
  /** The state its next instance starts from instead of init (a replay's recovery), once. */
  startFrom: Uint8Array | null = null;
  /** Invocations committed since its last checkpoint (exec/checkpointing.ts), and one is due. */
  sinceCheckpoint = 0;
  checkpointDue = false;
  /** Its instance was dropped with its state kept (exec/dormancy.ts): the next one starts from it. */
  dormant = false;
  /** Kernel-clock ms its last call ended. */
  lastActive = 0;
  /** Whoever waits for its call in flight to end (`idle`). */
  private readonly idlers: (() => void)[] = [];

  constructor(
    public record: AgentRecord,
    /** Its grants, import plan and worker modules change only through `relink` (an upgrade). */
    public grants: ReadonlyMap<string, Grant>,
    public plan: ImportPlan,
    /** The worker modules of the capabilities in `plan` that answer calls in the worker. */
    public workerModules: Readonly<Record<string, string>> = {},
  ) {}

  /** New grants, plan and worker modules, for a new component (agents.ts `relink`). */
  relink(
    grants: ReadonlyMap<string, Grant>,
    plan: ImportPlan,
    workerModules: Readonly<Record<string, string>>,
  ): void {
    this.grants = grants;
    this.plan = plan;
    this.workerModules = workerModules;
    this.contexts.clear();
  }

  /** Resolves once no call (or instance start) of the agent is in flight. */
  idle(): Promise<void> {
    if (!this.busy) return Promise.resolve();
    return new Promise((r) => this.idlers.push(r));
  }

  /** Its call ended (Executor.vacate, the one place `busy` ends): whoever waits in `idle` goes on. */
  freed(): void {
    this.busy = false;
    for (const r of this.idlers.splice(0)) r();
  }

  get id(): string {
    return this.record.id;
  }

  /** Thread id of the worker holding the live instance, or null when there is none. */
  get worker(): number | null {
    return this.resident;
  }

  /** Its instance started on `slot`: it lives there now. */
  residentOn(slot: Residence): void {
    this.resident = slot.thread;
    slot.residents.add(this.id);
  }

  /**
   * Its instance is gone (it crashed, its worker was lost, or it was dropped): the next call
   * starts a new one. `slot`: the worker it was on, which no longer counts it.
   */
  instanceGone(slot?: Residence): void {
    this.resident = null;
    slot?.residents.delete(this.id);
  }

  /** Throws AOS_E_AGENT_TERMINATED once the agent is terminated (its last call may still run). */
  assertLive(): void {
    if (this.record.state === 'terminated') throw terminated(this.id, this.record.exported);
  }

  /** Whoever waits for message `id`, no longer waiting here: the one way a waiter leaves. */
  takeWaiter(id: number): Waiter | undefined {
    const w = this.waiters.get(id);
    this.waiters.delete(id);
    return w;
  }

  /** Fails everyone waiting on this agent with `error` (the kernel closes). */
  failWaiters(error: Error): void {
    for (const id of [...this.waiters.keys()]) this.takeWaiter(id)!.reject(error);
  }

  /**
   * Resolves with the outcome of message `id`; after `timeoutMs` of the kernel clock (`timers`),
   * rejects with AOS_E_TIMED_OUT. `external`: the caller is outside the kernel (see Waiter).
   */
  outcome(id: number, options: { timeoutMs?: number; timers: Timers; external: boolean }): Promise<unknown> {
    const { timeoutMs, timers, external } = options;
    return new Promise((resolve, reject) => {
      if (timeoutMs === undefined) {
        this.waiters.set(id, { resolve, reject, external });
        return;
      }
      const cancel = timers.after(timeoutMs, () => {
        this.takeWaiter(id);
        const why = `no outcome from ${this.id} within ${timeoutMs} ms; message ${id} stays in its mailbox`;
        reject(new AgentOSError('AOS_E_TIMED_OUT', why, { agent: this.id, messageId: id }));
      });
      this.waiters.set(id, {
        resolve: (v) => {
          cancel();
          resolve(v);
        },
        reject: (e) => {
          cancel();
          reject(e);
        },
        external,
        answered: cancel,
      });
    });
  }

  /** Whether the scheduler may hand this agent work now. */
  get runnable(): boolean {
    const s = this.record.state;
    if (this.busy || this.held || this.queue.length === 0) return false;
    return s === 'ready' || (s === 'crashed' && this.record.restart === 'on-message');
  }
}
