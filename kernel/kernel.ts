/**
 * The embedding API.
 *
 * @example
 * import { Kernel } from 'agentos';
 * const kernel = await Kernel.open({ home: './.agentos' });
 * const id = await kernel.spawn('/tmp/echo.wasm', { grants: ['log', 'working-memory'] });
 * const out = await kernel.send(id, { text: 'hi' });   // the handler's outcome
 * await kernel.close();
 */
import { randomBytes } from 'node:crypto';
import { env } from 'node:process';
import { CAPABILITIES } from '../hostcalls/index.js';
import type { AgentRuntime } from './agent.js';
import { Agents } from './agents.js';
import type {
  AgentInfo,
  AgentSettings,
  KernelOptions,
  SendOptions,
  SpawnOptions,
  ToolDescriptor,
} from './api.js';
import { type Served, serveChannel } from './bridge/channel.js';
import { watchParks } from './bridge/park.js';
import { Bus } from './bus.js';
import type { KernelServices } from './capability.js';
import { systemClock } from './clock.js';
import { Dispatcher } from './dispatcher.js';
import { AgentOSError } from './errors.js';
import { EventHub, type KernelEvent } from './events.js';
import { Executor } from './executor.js';
import { checkPriority, checkWeight, type Limits, resolveLimits } from './limits.js';
import { HostcallTable, link, parseGrants } from './linker.js';
import { Loader } from './loader.js';
import { createLogger } from './logger.js';
import { type ResolvedOptions, resolveOptions } from './options.js';
import { WorkerPool, type WorkerSlot } from './pool.js';
import { Scheduler } from './scheduler.js';
import { checkSpawn } from './spawn-options.js';
import { type DeadLetter, DeadLetters } from './store/dead-letters.js';
import { Journal, type ReadableEntry, type StoredMessage } from './store/journal.js';
import { Mailboxes } from './store/mailbox.js';
import { type AgentRecord, type AgentState, emptyStats, ProcessTable } from './store/process-table.js';
import { Store } from './store/store.js';
import { validateMessage } from './validate.js';

export type {
  AgentInfo,
  AgentSettings,
  KernelOptions,
  SendOptions,
  SpawnOptions,
  ToolDescriptor,
} from './api.js';

export class Kernel {
  private readonly owners = new Map<number, AgentRuntime>();
  private readonly servers = new Map<number, { stop(): void }>();
  private readonly parkWatchers = new Map<number, { stop(): void }>();
  private readonly shared = new Map<string, unknown>();
  private readonly agents: Agents;
  private readonly bus: Bus;
  private readonly dlq: DeadLetters;
  private readonly hub: EventHub;
  private closed = false;
  private pool!: WorkerPool;
  private executor!: Executor;

  private constructor(
    private readonly store: Store,
    private readonly services: KernelServices,
    private readonly table: HostcallTable,
    private readonly journalStore: Journal,
    private readonly mailboxes: Mailboxes,
    private readonly processes: ProcessTable,
    private readonly loader: Loader,
    private readonly dispatcher: Dispatcher,
    private readonly maxMessageBytes: number,
    private readonly closeTimeoutMs: number,
    private readonly defaults: Limits,
  ) {
    this.agents = new Agents(processes, table, services, this.shared, defaults);
    this.hub = new EventHub(store, () => Number(services.clock.now()));
    (services as { events: EventHub }).events = this.hub;
    this.bus = new Bus({
      events: this.hub,
      logger: services.logger,
      agents: this.agents,
      mailboxes,
      wake: (a) => this.executor.wake(a),
      maxMessageBytes,
      now: () => Number(services.clock.now()),
    });
    (services as { bus: Bus }).bus = this.bus;
    this.dlq = new DeadLetters(store);
  }

  /** Opens the kernel on a data dir: restores the process table and mailboxes, starts the workers. */
  static async open(options: KernelOptions = {}): Promise<Kernel> {
    const home = options.home ?? env.AGENTOS_HOME ?? './.agentos';
    const logger = options.logger ?? createLogger(options.logLevel ?? 'warn');
    const clock = options.clock ?? systemClock;
    const o = resolveOptions(options);
    const store = await Store.open(home);
    // The bus joins once the kernel exists (it needs the live agents).
    const services = { store, clock, logger } as KernelServices;
    const now = (): number => Number(clock.now());
    const table = new HostcallTable(CAPABILITIES);
    const journal = new Journal(store);
    const kernel = new Kernel(
      store,
      services,
      table,
      journal,
      new Mailboxes(store, now, o.durableMailboxes),
      new ProcessTable(store),
      new Loader(store.home, options.cacheDir ?? env.AGENTOS_CACHE, logger, options.onProgress),
      new Dispatcher(table, journal, logger, now),
      options.maxMessageBytes ?? 1 << 20,
      options.closeTimeoutMs ?? 10_000,
      o.limits,
    );
    try {
      await kernel.start(o, now, options.deliver ?? true);
    } catch (e) {
      await store.close();
      throw e;
    }
    return kernel;
  }

  private async start(
    { workers, cpus, slice, attempts, backoffMs, batch }: ResolvedOptions,
    now: () => number,
    deliver: boolean,
  ): Promise<void> {
    for (const c of CAPABILITIES) this.shared.set(c.name, c.init?.(this.services));
    this.agents.restore((id) => this.mailboxes.pending(id), now);
    this.pool = await WorkerPool.start(workers, {
      onWorker: (slot) => this.serve(slot),
      onReady: () => this.executor?.pump(),
      onWorkerLost: (slot) => this.workerLost(slot),
    });
    this.executor = new Executor({
      pool: this.pool,
      journal: this.journalStore,
      mailboxes: this.mailboxes,
      loader: this.loader,
      logger: this.services.logger,
      now,
      owners: this.owners,
      persist: (a) => this.agents.save(a, true),
      paused: !deliver,
      scheduler: new Scheduler(cpus, this.pool.wanted),
      slice,
      batch,
      deadLetters: this.dlq,
      events: this.hub,
      attempts,
      backoffMs,
      reply: (from, m, result) => this.bus.reply(from, m, result),
      suspend: (a, why) => {
        const rec = a.record;
        rec.state = 'suspended';
        rec.updatedAt = now();
        rec.lastError = { code: why.code, message: why.message, at: rec.updatedAt };
        this.hub.emit('agent.suspended', rec.id, { code: why.code, reason: why.message });
        this.journalStore.append(rec.id, {
          t: 'lifecycle',
          at: rec.updatedAt,
          op: 'suspend',
          detail: why.message,
        });
        this.services.logger.warn({ agent: rec.id, code: why.code }, why.message);
        this.agents.save(a);
      },
    });
    for (const agent of this.agents.values()) this.executor.wake(agent);
  }

  private serve(slot: WorkerSlot): void {
    const dispatch = this.dispatcher.forChannel();
    const server = serveChannel(
      slot.channel,
      (fn, args, request) => {
        this.executor.beforeHostcall(slot);
        const served = dispatch.call(this.owners.get(slot.thread) ?? null, fn, args, request);
        if (!(served instanceof Promise)) return served;
        // A blocking call: its CPU permit goes to others meanwhile, and its answer waits for one.
        this.executor.blocked(slot);
        return served.then(
          (s) => new Promise<Served>((wake) => this.executor.unblocked(slot, () => wake(s))),
        );
      },
      (response, status) => dispatch.result(response, status),
    );
    this.servers.set(slot.thread, server);
    const parks = watchParks(slot.park, (used) => this.executor?.parked(slot, used));
    this.parkWatchers.set(slot.thread, parks);
  }

  private workerLost(slot: WorkerSlot): void {
    if (this.closed) return;
    this.servers.get(slot.thread)?.stop();
    this.servers.delete(slot.thread);
    this.parkWatchers.get(slot.thread)?.stop();
    this.parkWatchers.delete(slot.thread);
    for (const id of slot.residents) {
      const agent = this.agents.peek(id);
      if (agent && agent.worker === slot.thread) agent.worker = null;
    }
    this.services.logger.warn({ thread: slot.thread, agents: [...slot.residents] }, 'worker lost');
  }

  private check(): void {
    if (this.closed) throw new AgentOSError('AOS_E_KERNEL_CLOSED', 'the kernel is closed');
  }

  /**
   * Loads a component (a path or its bytes), checks its imports against the grants, starts an
   * instance (running init) and records the agent. Returns the agent id.
   */
  async spawn(component: string | Uint8Array, options: SpawnOptions = {}): Promise<string> {
    this.check();
    const inspect = (bytes: Uint8Array, what: string) => this.loader.inspect(bytes, what);
    const c = await checkSpawn(component, options, inspect, this.defaults);
    link(c.info.imports, parseGrants(c.grants, this.table), this.table, c.what);
    this.loader.keep(c.bytes, c.info.digest);
    const loaded = this.loader.load(c.info, c.bytes);
    await loaded;
    this.check();
    const at = Number(this.services.clock.now());
    let id: string;
    do id = `${c.name}-${randomBytes(3).toString('hex')}`;
    while (this.processes.get(id));
    const record: AgentRecord = {
      id,
      name: c.name,
      world: c.info.world,
      digest: c.info.digest,
      imports: c.info.imports,
      grants: c.grants,
      config: c.config,
      state: 'ready',
      restart: c.restart,
      seed: c.seed,
      createdAt: at,
      updatedAt: at,
      generation: 0,
      lastError: null,
      stats: emptyStats(),
      capState: {},
      limits: c.limits,
      priority: c.priority,
      weight: c.weight,
    };
    const agent = this.agents.create(record);
    agent.component = loaded;
    this.agents.add(agent);
    this.processes.put(record);
    this.journalStore.append(record.id, {
      t: 'spawn',
      at,
      digest: record.digest,
      world: record.world,
      grants: record.grants,
      config: record.config,
      seed: record.seed,
    });
    await this.startNow(agent);
    this.hub.emit('agent.spawned', record.id, {
      digest: record.digest,
      world: record.world,
      grants: record.grants,
    });
    return record.id;
  }

  /** Starts the first instance at spawn so init errors surface there. */
  private async startNow(agent: AgentRuntime): Promise<void> {
    const err = await this.executor.startFirst(agent);
    if (!err) return;
    const rec = agent.record;
    rec.state = 'terminated';
    rec.lastError = { code: err.code, message: err.message, at: Number(this.services.clock.now()) };
    this.journalStore.append(rec.id, {
      t: 'lifecycle',
      at: rec.lastError.at,
      op: 'terminate',
      detail: err.message,
    });
    this.agents.remove(rec.id);
    this.agents.save(agent);
    throw err;
  }

  /**
   * Queues a message and returns its id without waiting for the outcome. It reaches the disk with
   * the next write batch (within 2 ms); `await kernel.flushed()` to wait for that.
   */
  post(id: string, body: unknown, options: SendOptions = {}): { messageId: number } {
    return { messageId: this.enqueue(id, body, options.kind ?? 'text').id };
  }

  /**
   * Sends a message and resolves with the handler's outcome (rejects with a coded error). While
   * the agent is suspended, or crashed with restart policy `never`, the message waits in its
   * mailbox and so does the promise, until `resume` (or `close`, which rejects it).
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
    let argsJson: string | undefined;
    try {
      argsJson = JSON.stringify(args);
    } catch {}
    if (argsJson === undefined)
      throw new AgentOSError('AOS_E_BAD_MESSAGE', `arguments of ${tool} are not a JSON value`);
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
    this.check();
    const agent = this.agents.get(id);
    if (agent.record.state === 'terminated') {
      throw new AgentOSError('AOS_E_AGENT_TERMINATED', `agent ${id} is terminated`, { agent: id });
    }
    const text = validateMessage(kind, body, this.maxMessageBytes);
    return this.bus.deliver(agent.id, null, { kind, body: text });
  }

  /** The outcome of `message`; after `timeoutMs`, AOS_E_TIMED_OUT (the message stays queued). */
  private await(id: string, message: StoredMessage, timeoutMs?: number): Promise<unknown> {
    return this.agents.get(id).outcome(message.id, timeoutMs);
  }

  /** Every agent in the process table, terminated ones included. */
  list(filter: { state?: AgentState } = {}): AgentInfo[] {
    return this.processes
      .all()
      .filter((r) => !filter.state || r.state === filter.state)
      .map((r) => this.info(this.agents.peek(r.id)?.record ?? r));
  }

  inspect(id: string): AgentInfo {
    const rec = this.agents.peek(id)?.record ?? this.processes.get(id);
    if (!rec)
      throw new AgentOSError('AOS_E_AGENT_NOT_FOUND', `no agent ${JSON.stringify(id)}`, { agent: id });
    return this.info(rec);
  }

  private info(rec: AgentRecord): AgentInfo {
    return { ...this.agents.info(rec), running: this.executor?.running(rec.id) ?? null };
  }

  /** Pending messages of an agent, oldest first. */
  mailbox(id: string): StoredMessage[] {
    return this.agents.get(id).queue.slice();
  }

  /**
   * Changes an agent's limits, priority or weight; they apply from its next invocation. Limits
   * given are merged over its current ones. Nothing changes unless every value is valid.
   */
  configure(id: string, settings: AgentSettings): AgentInfo {
    this.check();
    const agent = this.agents.get(id);
    const rec = agent.record;
    const limits = resolveLimits(rec.limits, settings.limits);
    const priority = settings.priority === undefined ? rec.priority : checkPriority(settings.priority);
    const weight = settings.weight === undefined ? rec.weight : checkWeight(settings.weight);
    Object.assign(rec, { limits, priority, weight, updatedAt: Number(this.services.clock.now()) });
    this.agents.save(agent);
    this.executor.wake(agent);
    return this.info(rec);
  }

  /** Stops delivering messages to the agent; they queue until `resume`. */
  suspend(id: string): void {
    this.transition(id, ['ready', 'crashed'], 'suspended', 'suspend');
  }

  /** Delivers again (a crashed agent gets a fresh instance on its next message). */
  resume(id: string): void {
    const agent = this.transition(id, ['suspended', 'crashed'], 'ready', 'resume');
    this.executor.wake(agent);
  }

  /** Ends the agent for good: pending messages are dropped and their senders told. */
  async terminate(id: string): Promise<void> {
    const agent = this.transition(id, ['ready', 'suspended', 'crashed'], 'terminated', 'terminate');
    // A message in flight is settled by the executor; the rest are dropped now.
    const dropped = agent.queue.slice(agent.inFlight);
    this.mailboxes.drop(id, dropped);
    for (const m of dropped) {
      agent.waiters
        .get(m.id)
        ?.reject(new AgentOSError('AOS_E_AGENT_TERMINATED', `agent ${id} was terminated`));
    }
    agent.queue.cut(agent.inFlight);
    this.agents.remove(id);
    // An invocation in flight releases the instance when it ends.
    if (!agent.busy) this.executor.release(agent);
  }

  private transition(id: string, from: AgentState[], to: AgentState, op: string): AgentRuntime {
    this.check();
    const agent = this.agents.get(id);
    const rec = agent.record;
    if (!from.includes(rec.state)) {
      throw new AgentOSError('AOS_E_BAD_STATE', `cannot ${op} ${id}: it is ${rec.state}`, {
        state: rec.state,
      });
    }
    rec.state = to;
    rec.updatedAt = Number(this.services.clock.now());
    this.journalStore.append(id, { t: 'lifecycle', at: rec.updatedAt, op });
    this.agents.save(agent);
    this.hub.emit(op === 'resume' ? 'agent.resumed' : `agent.${to}`, id, {});
    return agent;
  }

  /** The agent's journal, hostcall payloads decoded, from sequence `from`. */
  async journal(id: string, options: { from?: number; limit?: number } = {}): Promise<ReadableEntry[]> {
    if (!this.processes.get(id)) {
      throw new AgentOSError('AOS_E_AGENT_NOT_FOUND', `no agent ${JSON.stringify(id)}`, { agent: id });
    }
    await this.store.flushed();
    return [...this.journalStore.read(id, options.from ?? 0, options.limit)];
  }

  /** Dead-lettered messages (of agent `id`, if given): each with why and how often it failed. */
  async deadLetters(id?: string): Promise<DeadLetter[]> {
    this.check();
    await this.store.flushed();
    return this.dlq.list(id);
  }

  /**
   * Puts a dead letter back into its agent's mailbox as a new message (new id, attempts reset).
   * @throws AgentOSError AOS_E_DEAD_LETTER_NOT_FOUND, or the bus's refusals (agent gone, mailbox full)
   */
  async requeue(id: string, messageId: number): Promise<{ messageId: number }> {
    this.check();
    await this.store.flushed();
    return { messageId: this.dlq.requeue(id, messageId, this.bus).id };
  }

  /** Deletes dead letters: all of them, those of agent `id`, or just `messageIds` of it. Returns how many. */
  async purgeDeadLetters(id?: string, messageIds?: number[]): Promise<number> {
    this.check();
    await this.store.flushed();
    const n = this.dlq.purge(id, messageIds);
    await this.store.flushed();
    return n;
  }

  /**
   * The kernel's events (agent.spawned, agent.suspended, agent.resumed, agent.crashed,
   * agent.terminated, message.dead-lettered, quota.hit, ipc.denied) from now on, as an async
   * iterator; `prefixes` selects by kind. It ends when the kernel closes.
   */
  events(options: { prefixes?: string[] } = {}): AsyncIterableIterator<KernelEvent> {
    this.check();
    return this.hub.iterate(options.prefixes ?? []);
  }

  /** Stored events after sequence `after` (the last 10,000 are kept), oldest first. */
  async recentEvents(after = 0, limit = 1000): Promise<KernelEvent[]> {
    this.check();
    await this.store.flushed();
    return this.hub.recent(after, limit);
  }

  /** Resolves when everything written so far is on disk. */
  flushed(): Promise<void> {
    return this.store.flushed();
  }

  /**
   * Finishes invocations in flight (up to `closeTimeoutMs`, then stops them: their messages stay
   * queued for the next open), stops the workers and closes the data dir.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const finished = await this.executor.drain(this.closeTimeoutMs);
    if (!finished) {
      this.services.logger.warn('close: invocations still running were stopped; their messages stay queued');
    }
    for (const agent of this.agents.values()) {
      for (const w of agent.waiters.values()) {
        w.reject(
          new AgentOSError(
            'AOS_E_KERNEL_CLOSED',
            `the kernel closed; the message stays in ${agent.id}'s mailbox`,
          ),
        );
      }
      agent.waiters.clear();
      this.agents.save(agent);
    }
    this.agents.saveDirty();
    for (const s of this.servers.values()) s.stop();
    for (const w of this.parkWatchers.values()) w.stop();
    this.hub.close();
    await this.pool.close();
    for (const c of CAPABILITIES) await c.close?.(this.shared.get(c.name));
    await this.store.close();
  }
}
