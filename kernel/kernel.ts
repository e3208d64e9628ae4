import { env } from 'node:process';
import type {
  AgentInfo,
  AgentSettings,
  CheckpointInfo,
  KernelOptions,
  SendOptions,
  SpawnOptions,
  ToolDescriptor,
} from './api.js';
import { KernelAssembly } from './assembly.js';
import { millis, systemClock, timersOf } from './base/clock.js';
import { AgentOSError } from './base/errors.js';
import { jsonText } from './base/json.js';
import { createLogger } from './base/logger.js';
import { checkAgentId, validateMessage } from './base/validate.js';
import { KernelCatalog } from './catalog/kernel-catalog.js';
import { listDeadLetters, purgeDeadLetters, requeueDeadLetter } from './dead-letter-ops.js';
import type { WorkerPool } from './exec/pool.js';
import { exportAgent } from './export-agent.js';
import { forkAgent } from './fork.js';
import { CapabilityHost } from './hostcall/capabilities.js';
import { type Imported, importAgent } from './import-agent.js';
import { checkpointAgent, type Pruned, pruneJournal, readJournal } from './journal-ops.js';
import { resolveOptions } from './options.js';
import { type BundleReplayOptions, type BundleReport, recordRun, replayBundle } from './recording.js';
import { type ReplayOptions, type ReplayReport, replayAgent } from './replay.js';
import { spawnAgent, spawnChecks } from './spawn.js';
import type { DeadLetter } from './store/dead-letters.js';
import type { KernelEvent } from './store/events.js';
import type { ReadableEntry } from './store/journal.js';
import type { StoredMessage } from './store/message.js';
import type { AgentState } from './store/process-table.js';
import { Store } from './store/store.js';
import { type ReplayOn, type Upgraded, type UpgradeOptions, upgradeAgent } from './upgrade.js';

export type * from './api.js';

/** Each kernel's assembly, for `workerPoolOf` (the class keeps it private). */
const assemblies = new WeakMap<Kernel, KernelAssembly>();

/**
 * The worker pool behind `kernel`, for tests that inject faults into it (testing/harness.ts,
 * `exitWorkerThread`). No part of the embedding API: kernel/index.ts does not export it.
 */
export function workerPoolOf(kernel: Kernel): WorkerPool {
  // Every kernel comes from the constructor, which records its assembly.
  return assemblies.get(kernel)!.pool;
}

export class Kernel {
  /** The skill catalog (install, update, rollback, search, resolve) and publishing to registries. */
  readonly catalog: KernelCatalog;

  protected constructor(private readonly core: KernelAssembly) {
    assemblies.set(this, core);
    this.catalog = new KernelCatalog(core);
  }

  /** Opens the kernel on a data dir: restores the process table and mailboxes, starts the workers. */
  static async open(options: KernelOptions = {}): Promise<Kernel> {
    const o = resolveOptions(options);
    const capabilities = await CapabilityHost.check(options.capabilities ?? [], options.config);
    const home = options.home ?? env.AGENTOS_HOME ?? './.agentos';
    const logger = options.logger ?? createLogger(options.logLevel ?? 'warn');
    const clock = options.clock ?? systemClock;
    const store = await Store.open(home);
    // The bus and the events join once the kernel exists (they need the live agents).
    const base = { store, clock, logger, timers: timersOf(clock) };
    let core: KernelAssembly | undefined;
    try {
      // Building the kernel reads its state (process table, mailboxes, subscriptions, events):
      // a damaged record there is AOS_E_DATA_DIR, and the home is left unlocked.
      core = store.guard(
        'the kernel state',
        () => new KernelAssembly(base, capabilities, options, o.limits, o),
      );
      const started = core;
      await store.guard('the kernel state', () => started.start(o, millis(clock), options.deliver ?? true));
    } catch (e) {
      await core?.abandon();
      await store.close();
      throw e;
    }
    return new this(core);
  }

  /**
   * Loads a component (a path, its bytes, an installed name, or `sha256:<digest>` of one this
   * kernel keeps — spawned without reading or hashing it again), checks it (exports, imports
   * against the grants, scopes, options: every problem at once), then records the agent and
   * starts an instance (running init). Nothing is stored unless every check passes.
   */
  spawn(component: string | Uint8Array, options: SpawnOptions = {}): Promise<string> {
    return spawnAgent(this.core, component, options);
  }

  /**
   * Moves the agent to the catalog's current version of its component (or the one `to` names:
   * `name@range`, or a component file), keeping its id, mailbox and working memory. The new
   * version passes spawn's checks with the agent's grants and settings, and (unless `check:
   * false`) its recorded run is replayed on it: if it behaves otherwise, AOS_E_REPLAY_DIVERGED
   * and nothing changes, unless `force`. Then it runs init in a new instance once the call in
   * flight ends; if init fails, the agent stays on its version. Queued messages wait meanwhile.
   */
  upgrade(id: string, to?: string, options: UpgradeOptions = {}): Promise<Upgraded> {
    const replayOn: ReplayOn = (component, last) => this.replay(id, { component, last });
    return upgradeAgent(this.core, spawnChecks(this.core), replayOn, id, to, options);
  }

  /**
   * Re-executes the agent's recorded run in an isolated kernel, every hostcall answered from its
   * journal (nothing it does happens again), and checks that the hostcalls, their arguments, the
   * outcomes and the fuel are as recorded; the first difference is reported (docs/replay.md).
   * `component` replays the run on other bytes; `from`/`to` bound the invocations checked.
   */
  async replay(id: string, options: ReplayOptions = {}): Promise<ReplayReport> {
    this.core.check();
    checkAgentId(id);
    if (typeof options !== 'object' || options === null)
      throw new AgentOSError('AOS_E_BAD_ARGUMENT', 'replay options must be an object');
    const open = async (o: KernelOptions) => {
      const kernel = await (this.constructor as typeof Kernel).open(o);
      return { core: assemblies.get(kernel)!, close: () => kernel.close() };
    };
    return replayAgent(this.core, open, id, options);
  }

  /**
   * A bundle (one portable file) of the agents' recorded runs: each agent's record and whole
   * journal, every component it ran, the order of invocations across agents. Default: every agent.
   */
  record(options: { agents?: string[] } = {}): Promise<Buffer> {
    this.core.check();
    if (options.agents !== undefined && !Array.isArray(options.agents))
      throw new AgentOSError('AOS_E_BAD_ARGUMENT', 'agents must be an array of agent ids');
    for (const id of options.agents ?? []) checkAgentId(id);
    return recordRun(this.core, options.agents);
  }

  /**
   * Replays every agent of a bundle `record` wrote (a path or its bytes), on this machine, in an
   * isolated kernel; the bundled components must pass the signing policy of `home`'s trust store.
   */
  static replayBundle(bundle: string | Uint8Array, options: BundleReplayOptions = {}): Promise<BundleReport> {
    const open = async (o: KernelOptions) => {
      // biome-ignore lint/complexity/noThisInStatic: the class replayBundle was called on opens it (the package's adds its capabilities)
      const kernel = await this.open(o);
      return { core: assemblies.get(kernel)!, close: () => kernel.close() };
    };
    return replayBundle(open, bundle, options);
  }

  /**
   * A new agent that starts where `id` is: its record, its capability state, and its idle
   * instance's state (memory and globals), so the same next message gives both the same answer.
   * Returns the new agent's id.
   */
  fork(id: string, options: { name?: string } = {}): Promise<string> {
    return forkAgent(this.core, id, options);
  }

  /**
   * Queues a message and returns its id without waiting for the outcome. It reaches the disk with
   * the next write batch (within 2 ms); `await kernel.flushed()` to wait for that.
   */
  post(id: string, body: unknown, options: SendOptions = {}): { messageId: number } {
    return { messageId: this.enqueue(id, body, options.kind ?? 'text').id };
  }

  /**
   * Moves the agent out of this kernel into a portable bundle (docs/snapshots.md, *Migration*):
   * terminated here, marked exported (AOS_E_AGENT_EXPORTED). `file`: written first, synced.
   */
  export(id: string, options: { file?: string } = {}): Promise<Buffer> {
    return exportAgent(this.core, id, options);
  }

  /** Continues an exported agent here (a path or the bundle's bytes), with its id; see import-agent.ts. */
  import(bundle: string | Uint8Array): Promise<Imported> {
    return importAgent(this.core, bundle);
  }

  /**
   * Sends a message and resolves with the handler's outcome (rejects with a coded error), once
   * that outcome, the message's ack and every effect of the invocation (working-memory writes,
   * the messages it sent, its journal records) are on disk, committed together (durability
   * `strict`, the default; `relaxed` answers as soon as the handler returns). While the agent is
   * suspended, or crashed with restart policy `never`, the message waits in its mailbox and so
   * does the promise, until `resume` (or `close`, which rejects it).
   */
  async send(id: string, body: unknown, options: SendOptions = {}): Promise<unknown> {
    const timeout = options.timeoutMs;
    if (timeout !== undefined && !(Number.isFinite(timeout) && timeout > 0)) {
      throw new AgentOSError('AOS_E_BAD_ARGUMENT', `timeoutMs must be a positive number, got ${timeout}`);
    }
    return this.await(id, this.enqueue(id, body, options.kind ?? 'text'), timeout);
  }

  /** Calls tool `tool` of skill `id` with `args`; resolves with its JSON result. */
  async invoke(id: string, tool: string, args: unknown = {}): Promise<unknown> {
    if (typeof tool !== 'string' || tool === '')
      throw new AgentOSError('AOS_E_BAD_ARGUMENT', 'tool must be a non-empty string');
    const argsJson = jsonText(args, `arguments of ${tool}`, 'AOS_E_BAD_MESSAGE');
    return this.await(id, this.enqueue(id, { tool, args: argsJson }, 'tool.invoke'));
  }

  /** The tools a skill offers. */
  async describe(id: string): Promise<ToolDescriptor[]> {
    const raw = (await this.await(id, this.enqueue(id, {}, 'tool.describe'))) as {
      name: string;
      description: string;
      inputSchema: string;
      outputSchema?: string;
    }[];
    return raw.map((t) => ({
      name: t.name,
      description: t.description,
      inputSchema: JSON.parse(t.inputSchema),
      ...(t.outputSchema === undefined ? {} : { outputSchema: JSON.parse(t.outputSchema) }),
    }));
  }

  private enqueue(id: string, body: unknown, kind: string): StoredMessage {
    this.core.check();
    const agent = this.core.agents.get(id);
    agent.assertLive();
    const text = validateMessage(kind, body, this.core.maxMessageBytes);
    return this.core.bus.deliver(agent.id, null, { kind, body: text });
  }

  /**
   * The outcome of `message`, once it is on disk (durability `strict`); after `timeoutMs` of the
   * kernel clock, AOS_E_TIMED_OUT (the message stays queued).
   */
  private await(id: string, message: StoredMessage, timeoutMs?: number): Promise<unknown> {
    const timers = this.core.services.timers;
    return this.core.agents.get(id).outcome(message.id, { timeoutMs, timers, external: true });
  }

  /** Every agent in the process table, terminated ones included. */
  list(filter: { state?: AgentState } = {}): AgentInfo[] {
    return this.core.processes
      .all()
      .filter((r) => !filter.state || r.state === filter.state)
      .map((r) => this.core.info(this.core.agents.peek(r.id)?.record ?? r));
  }

  /** What the kernel knows of the agent; `disk: true` adds its bytes in the data dir (a journal scan). */
  inspect(id: string, options: { disk?: boolean } = {}): AgentInfo {
    return this.core.inspect(id, options);
  }

  /** Pending messages of an agent, oldest first. */
  mailbox(id: string): StoredMessage[] {
    return this.core.agents.get(id).queue.slice();
  }

  /**
   * Changes an agent's limits, priority or weight; they apply from its next invocation. Limits
   * given are merged over its current ones. Nothing changes unless every value is valid.
   */
  configure(id: string, settings: AgentSettings): AgentInfo {
    this.core.check();
    const agent = this.core.agents.get(id);
    this.core.lifecycle.configure(agent, settings);
    this.core.executor.wake(agent);
    return this.core.info(agent.record);
  }

  /** Stops delivering messages to the agent (they queue until `resume`) and checkpoints it. */
  suspend(id: string): void {
    this.core.suspend(id);
  }

  /**
   * Takes the agent's instance state now, once its call in flight ends, and keeps it as its
   * newest checkpoint (docs/snapshots.md): recovery and replay start from it. It is on disk when
   * this returns. A dormant agent's kept state is its checkpoint already.
   * @throws AgentOSError AOS_E_AGENT_NOT_FOUND; AOS_E_BAD_STATE when it has no instance (it has
   * not run since it started or crashed) or an upgrade or a fork holds it; AOS_E_RESULT_TOO_LARGE
   */
  checkpoint(id: string): Promise<CheckpointInfo> {
    return checkpointAgent(this.core, id);
  }

  /**
   * Drops the agent's journal before its oldest kept checkpoint (docs/snapshots.md): recovery and
   * replay start from a checkpoint, so they need only what follows it. The spawn record stays.
   * Returns how many entries went and the checkpoint the journal now starts from (journal-ops.ts).
   */
  pruneJournal(id: string, options: { archive?: string } = {}): Promise<Pruned> {
    return pruneJournal(this.core, id, options);
  }

  /** Delivers again (a crashed agent gets a fresh instance on its next message). */
  resume(id: string): void {
    const agent = this.core.transition(id, ['suspended', 'crashed'], 'ready', 'resume');
    this.core.executor.wake(agent);
  }

  /**
   * Ends the agent for good: pending messages are dropped and their senders told. An agent this
   * kernel could not restore at open (its component refused or missing) can be terminated too.
   */
  async terminate(id: string): Promise<void> {
    this.core.check();
    const unrestored = this.core.agents.peek(id) ? undefined : this.core.processes.get(id);
    if (unrestored && unrestored.state !== 'terminated') return this.core.endUnrestored(unrestored);
    const agent = this.core.transition(id, ['ready', 'suspended', 'crashed'], 'terminated', 'terminate');
    // Messages in flight are settled by the executor; the rest are dropped now.
    this.core.executor.dropQueued(agent, agent.inFlight);
    this.core.agents.remove(id);
    // An invocation in flight releases the instance when it ends, and then the capabilities
    // forget the agent (its working memory, its subscriptions): its last call may still write.
    if (!agent.busy) {
      this.core.executor.release(agent);
      this.core.forget(id);
    }
  }

  /** The agent's journal, hostcall payloads decoded, from sequence `from`. */
  journal(id: string, options: { from?: number; limit?: number } = {}): Promise<ReadableEntry[]> {
    return readJournal(this.core, id, options);
  }

  /** Dead-lettered messages (of agent `id`, if given): each with why and how often it failed. */
  deadLetters(id?: string): Promise<DeadLetter[]> {
    return listDeadLetters(this.core, id);
  }

  /**
   * Puts a dead letter back into its agent's mailbox as a new message (new id, attempts reset).
   * @throws AgentOSError AOS_E_BAD_ARGUMENT, AOS_E_DEAD_LETTER_NOT_FOUND, or the bus's refusals (agent gone, mailbox full)
   */
  requeue(id: string, messageId: number): Promise<{ messageId: number }> {
    return requeueDeadLetter(this.core, id, messageId);
  }

  /** Deletes dead letters: all of them, those of agent `id`, or just `messageIds` of it. Returns how many. */
  purgeDeadLetters(id?: string, messageIds?: number[]): Promise<number> {
    return purgeDeadLetters(this.core, id, messageIds);
  }

  /**
   * The kernel's events (agent.spawned, agent.suspended, agent.resumed, agent.crashed, agent.upgraded,
   * agent.terminated, message.dead-lettered, quota.hit, ipc.denied) from now on, as an async
   * iterator; `prefixes` selects by kind. It ends when the kernel closes.
   */
  events(options: { prefixes?: string[] } = {}): AsyncIterableIterator<KernelEvent> {
    this.core.check();
    return this.core.eventLog.iterate(options.prefixes ?? []);
  }

  /** Stored events after sequence `after` (the last 10,000 are kept), oldest first. */
  async recentEvents(after = 0, limit = 1000): Promise<KernelEvent[]> {
    this.core.check();
    await this.core.store.flushed();
    return this.core.eventLog.recent(after, limit);
  }

  /** Resolves when everything written so far is on disk. */
  flushed(): Promise<void> {
    return this.core.store.flushed();
  }

  /**
   * Finishes invocations in flight (up to `closeTimeoutMs`, then stops them: their messages stay
   * queued for the next open), stops the workers and closes the data dir.
   */
  async close(): Promise<void> {
    if (this.core.closed) return;
    this.core.closed = true;
    this.core.dormancy?.stop();
    const finished = await this.core.executor.drain(this.core.closeTimeoutMs);
    this.core.watchdog?.stop();
    if (!finished) {
      this.core.services.logger.warn(
        'close: invocations still running were stopped; their messages stay queued',
      );
    }
    for (const agent of this.core.agents.values()) {
      agent.failWaiters(
        new AgentOSError(
          'AOS_E_KERNEL_CLOSED',
          `the kernel closed; the message stays in ${agent.id}'s mailbox`,
        ),
      );
      this.core.agents.save(agent);
    }
    this.core.agents.saveDirty();
    this.core.links.stopAll();
    this.core.eventLog.close();
    await this.core.pool.close();
    await this.core.capabilities.close();
    await this.core.store.close();
  }
}
