/**
 * The kernel's assembly and lifetime, under the embedding API (kernel.ts, which holds one): its
 * parts, built once; starting the capabilities, the workers and the executor; a lost worker;
 * the checks the API's methods share.
 *
 * @example
 * const core = new KernelAssembly(base, capabilities, options, limits, resolved);
 * await core.start(resolved, now, true);
 */

import { env } from 'node:process';
import type { AgentRuntime } from './agents/agent.js';
import { Agents } from './agents/agents.js';
import { Lifecycle } from './agents/lifecycle.js';
import type { AgentInfo, KernelOptions } from './api.js';
import { millis } from './base/clock.js';
import { AgentOSError } from './base/errors.js';
import type { Limits } from './base/limits.js';
import { Catalog } from './catalog/catalog.js';
import { Bus } from './exec/bus.js';
import { Checkpointing } from './exec/checkpointing.js';
import { Commits } from './exec/commits.js';
import { Dispatcher } from './exec/dispatcher.js';
import { Dormancy } from './exec/dormancy.js';
import { Executor } from './exec/executor.js';
import { RETIRE_IDLE_MS, WorkerPool, type WorkerSlot } from './exec/pool.js';
import { Recovery } from './exec/recovery.js';
import { Retention } from './exec/retention.js';
import { Scheduler } from './exec/scheduler.js';
import { Watchdog } from './exec/watchdog.js';
import { WorkerLinks } from './exec/worker-links.js';
import type { CapabilityHost, KernelParts } from './hostcall/capabilities.js';
import type { HostcallTable } from './hostcall/linker.js';
import { BUILD, Loader } from './loader/loader.js';
import type { ResolvedOptions } from './options.js';
import { SigningPolicy } from './signing/policy.js';
import { restoreCheck } from './signing/restore-check.js';
import { TrustStore } from './signing/trust.js';
import { Checkpoints } from './store/checkpoints.js';
import { DeadLetters } from './store/dead-letters.js';
import { EventHub } from './store/events.js';
import { Journal } from './store/journal.js';
import { Mailboxes } from './store/mailbox.js';
import { OutsideResults } from './store/outside-results.js';
import { type AgentRecord, type AgentState, ProcessTable } from './store/process-table.js';
import { Snapshots } from './store/snapshots.js';
import type { Store } from './store/store.js';

export class KernelAssembly {
  readonly links: WorkerLinks;
  readonly lifecycle: Lifecycle;
  readonly agents: Agents;
  readonly bus: Bus;
  readonly deadLetterQueue: DeadLetters;
  readonly outsideResults: OutsideResults;
  readonly snapshots: Snapshots;
  readonly checkpoints: Checkpoints;
  checkpointing!: Checkpointing;
  dormancy: Dormancy | undefined;
  readonly eventLog: EventHub;
  closed = false;
  pool!: WorkerPool;
  executor!: Executor;
  watchdog: Watchdog | undefined;

  readonly store: Store;
  readonly table: HostcallTable;
  readonly journalStore: Journal;
  readonly mailboxes: Mailboxes;
  readonly processes: ProcessTable;
  readonly loader: Loader;
  readonly policy: SigningPolicy;
  readonly catalog: Catalog;
  readonly maxMessageBytes: number;
  readonly commits: Commits;
  readonly closeTimeoutMs: number;
  readonly defaults: Limits;

  readonly services: KernelParts;

  constructor(
    base: Omit<KernelParts, 'bus' | 'events'>,
    readonly capabilities: CapabilityHost,
    /** The options the kernel was opened with (a replay opens its isolated kernel like it). */
    readonly options: KernelOptions,
    limits: Limits,
    resolved: Pick<ResolvedOptions, 'durableMailboxes' | 'durability'>,
  ) {
    const { store, logger, clock } = base;
    const now = millis(clock);
    this.store = store;
    store.batch.onError = (e, what) => logger.error({ err: e }, `${what} failed at flush`);
    this.table = capabilities.table;
    this.journalStore = new Journal(store);
    this.mailboxes = new Mailboxes(store, now, resolved.durableMailboxes);
    this.commits = new Commits({
      batch: store.batch,
      journal: this.journalStore,
      logger,
      durability: resolved.durability,
      coalesce: (f) => (this.executor ? this.executor.coalesce(f) : f()),
    });
    this.processes = new ProcessTable(store);
    this.loader = new Loader(store.home, options.cacheDir ?? env.AGENTOS_CACHE, logger, options.onProgress);
    this.policy = new SigningPolicy(TrustStore.at(store.home), options.policy ?? {}, logger, now);
    this.catalog = new Catalog(store, now);
    this.maxMessageBytes = options.maxMessageBytes ?? 1 << 20;
    this.closeTimeoutMs = options.closeTimeoutMs ?? 10_000;
    this.defaults = limits;
    this.agents = new Agents(this.processes, capabilities, logger, store.home, limits);
    this.eventLog = new EventHub(store, now);
    const bus = new Bus({
      events: this.eventLog,
      logger,
      agents: this.agents,
      mailboxes: this.mailboxes,
      wake: (a) => this.executor.wake(a),
      coalesce: (f) => (this.executor ? this.executor.coalesce(f) : f()),
      maxMessageBytes: this.maxMessageBytes,
      now,
      timers: base.timers,
    });
    this.bus = bus;
    this.services = { ...base, bus, events: this.eventLog };
    this.deadLetterQueue = new DeadLetters(store);
    this.outsideResults = new OutsideResults(store);
    this.snapshots = new Snapshots(store);
    this.checkpoints = new Checkpoints(store);
    const dispatcher = new Dispatcher(this.table, this.journalStore, logger, now, this.outsideResults);
    this.links = new WorkerLinks(
      dispatcher,
      (t) => this.executor?.ownerOf(t),
      () => this.executor,
      this.services.logger,
    );
    this.lifecycle = new Lifecycle({
      agents: this.agents,
      journal: this.journalStore,
      events: this.eventLog,
      now,
    });
  }

  async start(
    {
      workers,
      maxWorkers,
      cpus,
      slice,
      attempts,
      backoffMs,
      batch,
      tick,
      watchdogGraceMs,
      maxResultBytes,
      spares,
      dormantAfterMs,
      checkpointEvery,
      recovery,
      retention,
      journalArchiveDir,
    }: ResolvedOptions,
    now: () => number,
    deliver: boolean,
  ): Promise<void> {
    this.capabilities.start(this.services);
    const vouch = restoreCheck(this.policy, (digest) => this.loader.stored(digest));
    this.agents.restore((id) => this.mailboxes.pending(id), now, vouch);
    // Agents dormant when the kernel stopped go on from their kept state.
    for (const id of this.snapshots.agents()) {
      const agent = this.agents.peek(id);
      const kept = this.snapshots.get(id);
      if (agent && kept?.digest === agent.record.digest && kept.build === BUILD) agent.dormant = true;
      else this.snapshots.remove(id);
    }
    this.pool = await WorkerPool.start(
      workers,
      {
        onWorker: (slot) => this.links.attach(slot),
        onReady: () => this.executor?.pump(),
        onWorkerLost: (slot) => this.workerLost(slot),
        onCommandEnd: (slot, agent) => this.links.commandEnded(slot, agent),
      },
      maxWorkers,
      RETIRE_IDLE_MS,
      maxResultBytes,
      spares,
    );
    const scheduler = new Scheduler(cpus, this.pool.wanted);
    const pool = this.pool;
    this.watchdog = new Watchdog({
      scheduler,
      graceMs: watchdogGraceMs,
      kill: (slot, why) => pool.kill(slot, why),
    });
    this.watchdog.start();
    const retained = new Retention({
      policy: retention,
      archiveDir: journalArchiveDir,
      store: this.store,
      journal: this.journalStore,
      checkpoints: this.checkpoints,
      logger: this.services.logger,
    });
    this.checkpointing = new Checkpointing({
      kept: (id) => retained.kept(id),
      every: checkpointEvery,
      snapshotOf: (a) => this.executor.snapshotOf(a),
      wake: (a) => this.executor.wake(a),
      checkpoints: this.checkpoints,
      journal: this.journalStore,
      logger: this.services.logger,
      now,
    });
    const checkpointing = this.checkpointing;
    this.executor = new Executor({
      tick,
      committed: (a) => checkpointing.committed(a),
      ...(recovery === 'rebuild'
        ? {
            recovery: new Recovery({
              pool: this.pool,
              store: this.store,
              journal: this.journalStore,
              checkpoints: this.checkpoints,
              logger: this.services.logger,
            }),
          }
        : {}),
      pool: this.pool,
      journal: this.journalStore,
      commits: this.commits,
      timers: this.services.timers,
      mailboxes: this.mailboxes,
      loader: this.loader,
      logger: this.services.logger,
      now,
      persist: (a) => this.agents.save(a, true),
      forget: (a) => this.forget(a.id),
      paused: !deliver,
      scheduler,
      slice,
      batch,
      deadLetters: this.deadLetterQueue,
      outside: this.outsideResults,
      snapshots: this.snapshots,
      events: this.eventLog,
      attempts,
      backoffMs,
      reply: (from, m, result) => this.bus.reply(from, m, result),
      suspend: (a, why) => {
        this.services.logger.warn({ agent: a.id, code: why.code }, why.message);
        this.lifecycle.setState(a, 'suspended', 'suspend', why);
      },
    });
    for (const agent of this.agents.values()) this.executor.wake(agent);
    if (dormantAfterMs !== null && deliver) {
      const executor = this.executor;
      this.dormancy = new Dormancy({
        afterMs: dormantAfterMs,
        agents: () => this.agents.values(),
        snapshotOf: (a) => executor.snapshotOf(a),
        release: (a) => executor.release(a),
        wake: (a) => executor.wake(a),
        snapshots: this.snapshots,
        checkpointing,
        journal: this.journalStore,
        logger: this.services.logger,
        now,
      });
      this.dormancy.start();
    }
  }

  /** A start that failed: whatever it had started (the watchdog, the workers) stops. */
  async abandon(): Promise<void> {
    this.closed = true;
    this.watchdog?.stop();
    await (this.pool as WorkerPool | undefined)?.close();
  }

  workerLost(slot: WorkerSlot): void {
    if (this.closed) return;
    this.links.lost(slot);
    this.executor?.workerGone(slot);
    for (const id of slot.residents) {
      const agent = this.agents.peek(id);
      if (agent && agent.worker === slot.thread) agent.instanceGone(slot);
    }
    if (slot.retired) this.services.logger.debug({ thread: slot.thread }, 'idle extra worker retired');
    else if (slot.killed)
      this.services.logger.warn(
        { thread: slot.thread, agents: [...slot.residents], ...slot.killed },
        `worker terminated: ${slot.killed.agent} ran past its deadline without reaching a metering point`,
      );
    else this.services.logger.warn({ thread: slot.thread, agents: [...slot.residents] }, 'worker lost');
  }

  /** A terminated agent is gone: its capabilities and its kept outside results forget it. */
  forget(id: string): void {
    this.capabilities.drop(id);
    this.outsideResults.forgetAgent(id);
    this.snapshots.remove(id);
    this.checkpoints.forget(id);
  }

  check(): void {
    if (this.closed) throw new AgentOSError('AOS_E_KERNEL_CLOSED', 'the kernel is closed');
  }

  /** The agent's record (the running one, else the process table's). @throws AgentOSError AOS_E_AGENT_NOT_FOUND */
  known(id: string): AgentRecord {
    const rec = this.agents.peek(id)?.record ?? this.processes.get(id);
    if (!rec)
      throw new AgentOSError('AOS_E_AGENT_NOT_FOUND', `no agent ${JSON.stringify(id)}`, { agent: id });
    return rec;
  }

  /** `kernel.inspect`. @throws AgentOSError AOS_E_AGENT_NOT_FOUND, AOS_E_BAD_ARGUMENT */
  inspect(id: string, options: { disk?: boolean }): AgentInfo {
    const rec = this.known(id);
    if (
      typeof options !== 'object' ||
      options === null ||
      !['boolean', 'undefined'].includes(typeof options.disk)
    )
      throw new AgentOSError('AOS_E_BAD_ARGUMENT', 'inspect options must be an object like { disk: true }');
    return this.info(rec, options.disk === true);
  }

  /** What the API says of the agent; `disk` adds what it takes on disk (it reads every stored value of its journal, so it costs as much as the journal is long). */
  info(rec: AgentRecord, disk = false): AgentInfo {
    return {
      ...this.agents.info(rec),
      ...(disk
        ? { disk: { journal: this.journalStore.bytes(rec.id), checkpoints: this.checkpoints.bytes(rec.id) } }
        : {}),
      running: this.executor?.running(rec.id) ?? null,
      checkpoints: this.checkpoints.summary(rec.id).map((c) => ({ ...c })),
    };
  }
  /**
   * Ends an agent this kernel could not restore (it was never live here): its record is marked
   * terminated, its queued messages are dropped, its capability state forgotten.
   */
  endUnrestored(rec: AgentRecord): void {
    const at = Number(this.services.clock.now());
    const why = rec.lastError?.message ?? 'not restored';
    rec.state = 'terminated';
    rec.updatedAt = at;
    this.journalStore.append(rec.id, { t: 'lifecycle', at, op: 'terminate', detail: why });
    this.mailboxes.drop(rec.id, this.mailboxes.pending(rec.id));
    this.processes.put(rec);
    this.forget(rec.id);
    this.eventLog.emit('agent.terminated', rec.id, {});
  }

  /** Stops delivering to the agent; its state is taken as a checkpoint once its call in flight ends. */
  suspend(id: string): void {
    const agent = this.transition(id, ['ready', 'crashed'], 'suspended', 'suspend');
    void this.checkpointing.take(agent);
  }

  transition(id: string, from: AgentState[], to: AgentState, op: string): AgentRuntime {
    this.check();
    const agent = this.agents.get(id);
    this.lifecycle.transition(agent, from, to, op);
    return agent;
  }
}
