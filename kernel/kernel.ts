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
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename } from 'node:path';
import { env } from 'node:process';
import type { Logger } from 'pino';
import { CAPABILITIES } from '../hostcalls/index.js';
import { AgentRuntime } from './agent.js';
import { serveChannel } from './bridge/channel.js';
import type { Capability, KernelServices } from './capability.js';
import { type Clock, systemClock } from './clock.js';
import { Dispatcher } from './dispatcher.js';
import { AgentOSError } from './errors.js';
import { Executor } from './executor.js';
import { HostcallTable, link, parseGrants } from './linker.js';
import { inspectComponent, Loader } from './loader.js';
import { createLogger } from './logger.js';
import { WorkerPool, type WorkerSlot } from './pool.js';
import { Journal, type ReadableEntry, type StoredMessage } from './store/journal.js';
import { Mailboxes } from './store/mailbox.js';
import {
  type AgentRecord,
  type AgentState,
  emptyStats,
  ProcessTable,
  type RestartPolicy,
} from './store/process-table.js';
import { Store } from './store/store.js';
import { validateMessage } from './validate.js';

/** How long accounting may wait before it is written (one write covers many invocations). */
const SAVE_DELAY_MS = 20;

export interface KernelOptions {
  /** Data dir. Default: `$AGENTOS_HOME`, else `./.agentos`. */
  home?: string;
  /** Worker threads. Default: the number of cores. */
  workers?: number;
  /** A pino logger, or the level for the kernel's own (stderr). Default level: `warn`. */
  logger?: Logger;
  logLevel?: string;
  /** The time source for clock hostcalls and timestamps. Default: the system clock. */
  clock?: Clock;
  /** Where transpiled components are cached. Default `<home>/cache`; data dirs may share one. */
  cacheDir?: string;
  /** Largest message body accepted, in bytes of JSON. Default 1 MiB. */
  maxMessageBytes?: number;
}

export interface SpawnOptions {
  /** Capabilities granted (`log`, `working-memory:read-only`, ...). Default: none. */
  grants?: string[];
  /** JSON value passed to `init`. Default `{}`. */
  config?: unknown;
  /** Name used in the id. Default: the file name, else the world. */
  name?: string;
  /** What a crash leads to. Default `on-message`: the next message starts a new instance. */
  restart?: RestartPolicy;
  /** Seed of the agent's random generator (u64). Default: random. */
  seed?: bigint | number | string;
}

export interface SendOptions {
  /** Message type. Default `text`. */
  kind?: string;
}

export interface AgentInfo extends Omit<AgentRecord, 'capState' | 'config'> {
  config: unknown;
  /** Messages waiting in the mailbox (including one in flight). */
  mailbox: number;
  /** An instance is live in a worker. */
  resident: boolean;
  busy: boolean;
}

export interface ToolDescriptor {
  name: string;
  description: string;
  inputSchema: unknown;
  outputSchema?: unknown;
}

export class Kernel {
  private readonly agents = new Map<string, AgentRuntime>();
  private readonly owners = new Map<number, AgentRuntime>();
  private readonly servers = new Map<number, { stop(): void }>();
  private readonly shared = new Map<string, unknown>();
  private readonly dirty = new Set<AgentRuntime>();
  private saveTimer: ReturnType<typeof setTimeout> | undefined;
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
  ) {}

  /** Opens the kernel on a data dir: restores the process table and mailboxes, starts the workers. */
  static async open(options: KernelOptions = {}): Promise<Kernel> {
    const home = options.home ?? env.AGENTOS_HOME ?? './.agentos';
    const logger = options.logger ?? createLogger(options.logLevel ?? 'warn');
    const clock = options.clock ?? systemClock;
    const workers = options.workers ?? availableParallelism();
    if (!Number.isInteger(workers) || workers < 1) {
      throw new AgentOSError('AOS_E_BAD_CONFIG', `workers must be a positive integer, got ${workers}`);
    }
    const store = await Store.open(home);
    const services: KernelServices = { store, clock, logger };
    const now = (): number => Number(clock.now());
    const table = new HostcallTable(CAPABILITIES);
    const journal = new Journal(store);
    const kernel = new Kernel(
      store,
      services,
      table,
      journal,
      new Mailboxes(store, now),
      new ProcessTable(store),
      new Loader(store.home, options.cacheDir),
      new Dispatcher(table, journal, logger, now),
      options.maxMessageBytes ?? 1 << 20,
    );
    try {
      await kernel.start(workers, now);
    } catch (e) {
      await store.close();
      throw e;
    }
    return kernel;
  }

  private async start(workers: number, now: () => number): Promise<void> {
    for (const c of CAPABILITIES) this.shared.set(c.name, c.init?.(this.services));
    for (const record of this.processes.all()) {
      if (record.state === 'terminated') continue;
      const agent = this.runtime(record);
      agent.queue.push(...this.mailboxes.pending(record.id));
      this.agents.set(record.id, agent);
    }
    this.pool = await WorkerPool.start(workers, {
      onWorker: (slot) => this.serve(slot),
      onReady: () => this.executor?.pump(),
      onWorkerLost: (slot) => this.workerLost(slot),
    });
    this.executor = new Executor({
      pool: this.pool,
      journal: this.journalStore,
      mailboxes: this.mailboxes,
      table: this.processes,
      loader: this.loader,
      logger: this.services.logger,
      now,
      owners: this.owners,
      persist: (a) => this.persist(a, true),
    });
    for (const agent of this.agents.values()) this.executor.wake(agent);
  }

  private serve(slot: WorkerSlot): void {
    const server = serveChannel(
      slot.channel,
      (fn, args, request) => this.dispatcher.call(this.owners.get(slot.thread) ?? null, fn, args, request),
      (response, status) => this.dispatcher.result(response, status),
    );
    this.servers.set(slot.thread, server);
  }

  private workerLost(slot: WorkerSlot): void {
    if (this.closed) return;
    this.servers.get(slot.thread)?.stop();
    this.servers.delete(slot.thread);
    for (const id of slot.residents) {
      const agent = this.agents.get(id);
      if (agent && agent.worker === slot.thread) agent.worker = null;
    }
    this.services.logger.warn({ thread: slot.thread, agents: [...slot.residents] }, 'worker lost');
  }

  /** Builds an agent's runtime from its record: grants, links, capability views. */
  private runtime(record: AgentRecord): AgentRuntime {
    const grants = parseGrants(record.grants, this.table);
    const plan = link(record.imports, grants, this.table, record.id);
    const agent = new AgentRuntime(record, grants, plan);
    for (const [name, grant] of grants) {
      const cap = this.table.byCapability.get(name) as Capability;
      const view = cap.configure(record, grant, this.shared.get(name));
      agent.contexts.set(name, { agent: record, view, services: this.services });
    }
    return agent;
  }

  /**
   * Saves the agent's record. Accounting after an invocation is saved within SAVE_DELAY_MS
   * (one write for many invocations); lifecycle changes are saved at once.
   */
  private persist(agent: AgentRuntime, soon = false): void {
    if (soon) {
      this.dirty.add(agent);
      this.saveTimer ??= setTimeout(() => this.saveDirty(), SAVE_DELAY_MS);
      return;
    }
    this.dirty.delete(agent);
    const rec = agent.record;
    for (const [name, ctx] of agent.contexts) {
      const cap = this.table.byCapability.get(name)!;
      if (cap.persist) rec.capState[name] = cap.persist(ctx.view);
    }
    this.processes.put(rec);
  }

  private saveDirty(): void {
    this.saveTimer = undefined;
    for (const agent of [...this.dirty]) this.persist(agent);
  }

  private check(): void {
    if (this.closed) throw new AgentOSError('AOS_E_KERNEL_CLOSED', 'the kernel is closed');
  }

  private agent(id: string): AgentRuntime {
    const agent = this.agents.get(id);
    if (agent) return agent;
    const rec = typeof id === 'string' ? this.processes.get(id) : undefined;
    if (rec?.state === 'terminated') {
      throw new AgentOSError('AOS_E_AGENT_TERMINATED', `agent ${id} is terminated`, { agent: id });
    }
    throw new AgentOSError('AOS_E_AGENT_NOT_FOUND', `no agent ${JSON.stringify(id)} in ${this.store.home}`, {
      agent: id,
    });
  }

  /**
   * Loads a component (a path or its bytes), checks its imports against the grants, starts an
   * instance (running init) and records the agent. Returns the agent id.
   */
  async spawn(component: string | Uint8Array, options: SpawnOptions = {}): Promise<string> {
    this.check();
    const what = typeof component === 'string' ? component : 'component';
    let bytes: Uint8Array;
    if (typeof component === 'string') {
      try {
        bytes = await readFile(component);
      } catch (e) {
        throw new AgentOSError(
          'AOS_E_COMPONENT_NOT_FOUND',
          `cannot read ${component}: ${(e as Error).message}`,
          {
            path: component,
          },
        );
      }
    } else if (component instanceof Uint8Array) bytes = component;
    else throw new AgentOSError('AOS_E_BAD_ARGUMENT', 'spawn takes a path or the component bytes');
    const info = await inspectComponent(bytes, what);
    if (info.world === 'unknown') {
      throw new AgentOSError(
        'AOS_E_BAD_EXPORTS',
        `${what} exports ${info.exports.map((e) => e.name).join(', ') || 'nothing'}; an agent exports init and handle, a skill describe and invoke`,
      );
    }
    const grantList = options.grants ?? [];
    if (!Array.isArray(grantList))
      throw new AgentOSError('AOS_E_BAD_ARGUMENT', 'grants must be an array of strings');
    link(info.imports, parseGrants(grantList, this.table), this.table, what);
    let config: string | undefined;
    try {
      config = JSON.stringify(options.config ?? {});
    } catch (e) {
      throw new AgentOSError('AOS_E_BAD_CONFIG', `config is not JSON-serialisable: ${(e as Error).message}`);
    }
    if (config === undefined) throw new AgentOSError('AOS_E_BAD_CONFIG', 'config is not a JSON value');
    const restart = options.restart ?? 'on-message';
    if (restart !== 'on-message' && restart !== 'never') {
      throw new AgentOSError(
        'AOS_E_BAD_CONFIG',
        `restart must be "on-message" or "never", got ${String(restart)}`,
      );
    }
    const seed = parseSeed(options.seed);
    const name = sanitizeName(
      options.name ?? (typeof component === 'string' ? basename(component, '.wasm') : info.world),
    );
    this.loader.keep(bytes, info.digest);
    const loaded = this.loader.load(info, bytes);
    await loaded;
    const at = Number(this.services.clock.now());
    const record: AgentRecord = {
      id: `${name}-${randomBytes(3).toString('hex')}`,
      name,
      world: info.world,
      digest: info.digest,
      imports: info.imports,
      grants: [...grantList],
      config,
      state: 'ready',
      restart,
      seed,
      createdAt: at,
      updatedAt: at,
      generation: 0,
      lastError: null,
      stats: emptyStats(),
      capState: {},
    };
    const agent = this.runtime(record);
    agent.component = loaded;
    this.agents.set(record.id, agent);
    this.processes.put(record);
    this.journalStore.append(record.id, {
      t: 'spawn',
      at,
      digest: record.digest,
      world: record.world,
      grants: record.grants,
      config,
      seed,
    });
    await this.startNow(agent);
    return record.id;
  }

  /** Starts the first instance at spawn so init errors surface there. */
  private async startNow(agent: AgentRuntime): Promise<void> {
    let slot = this.pool.freeSlot();
    while (!slot) {
      await new Promise((r) => setTimeout(r, 1));
      this.check();
      slot = this.pool.freeSlot();
    }
    agent.busy = true;
    slot.busy = true;
    try {
      const r = await this.executor.start(agent, slot, 'spawn');
      if (r.kind === 'ok') return;
      const rec = agent.record;
      rec.state = 'terminated';
      const err =
        r.kind === 'error'
          ? new AgentOSError('AOS_E_INIT_FAILED', `${rec.id}: init returned ${r.error.tag}: ${r.error.val}`, {
              tag: r.error.tag,
            })
          : new AgentOSError(
              'AOS_E_AGENT_CRASHED',
              `${rec.id} crashed in init: ${r.kind === 'crash' ? r.message : r.kind}`,
            );
      rec.lastError = { code: err.code, message: err.message, at: Number(this.services.clock.now()) };
      this.journalStore.append(rec.id, {
        t: 'lifecycle',
        at: rec.lastError.at,
        op: 'terminate',
        detail: err.message,
      });
      this.agents.delete(rec.id);
      this.persist(agent);
      throw err;
    } finally {
      agent.busy = false;
      slot.busy = false;
      this.owners.delete(slot.thread);
      this.executor.pump();
    }
  }

  /** Queues a message durably and returns its id without waiting for the outcome. */
  post(id: string, body: unknown, options: SendOptions = {}): { messageId: number } {
    return { messageId: this.enqueue(id, body, options.kind ?? 'text').id };
  }

  /** Sends a message and resolves with the handler's outcome (rejects with a coded error). */
  async send(id: string, body: unknown, options: SendOptions = {}): Promise<unknown> {
    return this.await(id, this.enqueue(id, body, options.kind ?? 'text'));
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
    const agent = this.agent(id);
    if (agent.record.state === 'terminated') {
      throw new AgentOSError('AOS_E_AGENT_TERMINATED', `agent ${id} is terminated`, { agent: id });
    }
    const text = validateMessage(kind, body, this.maxMessageBytes);
    const toolKind = kind === 'tool.invoke' || kind === 'tool.describe';
    if ((agent.record.world === 'skill') !== toolKind) {
      throw new AgentOSError(
        'AOS_E_WRONG_WORLD',
        agent.record.world === 'skill'
          ? `${id} is a skill: call its tools with invoke(), not messages of kind "${kind}"`
          : `${id} is an agent: send it messages; only skills take tool calls`,
      );
    }
    const message = this.mailboxes.append(id, { kind, sender: null, body: text });
    agent.queue.push(message);
    this.executor.wake(agent);
    return message;
  }

  private await(id: string, message: StoredMessage): Promise<unknown> {
    const agent = this.agent(id);
    return new Promise((resolve, reject) => agent.waiters.set(message.id, { resolve, reject }));
  }

  /** Every agent in the process table, terminated ones included. */
  list(filter: { state?: AgentState } = {}): AgentInfo[] {
    return this.processes
      .all()
      .filter((r) => !filter.state || r.state === filter.state)
      .map((r) => this.info(this.agents.get(r.id)?.record ?? r));
  }

  inspect(id: string): AgentInfo {
    const live = this.agents.get(id);
    const rec = live?.record ?? this.processes.get(id);
    if (!rec)
      throw new AgentOSError('AOS_E_AGENT_NOT_FOUND', `no agent ${JSON.stringify(id)}`, { agent: id });
    return this.info(rec);
  }

  private info(rec: AgentRecord): AgentInfo {
    const live = this.agents.get(rec.id);
    const { capState: _c, config, ...rest } = rec;
    return {
      ...structuredClone(rest),
      config: JSON.parse(config),
      mailbox: live?.queue.length ?? 0,
      resident: live?.worker != null,
      busy: live?.busy ?? false,
    };
  }

  /** Pending messages of an agent, oldest first. */
  mailbox(id: string): StoredMessage[] {
    return [...this.agent(id).queue];
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
    const dropped = agent.busy ? agent.queue.slice(1) : agent.queue.slice();
    this.mailboxes.drop(id, dropped);
    for (const m of dropped) {
      agent.waiters
        .get(m.id)
        ?.reject(new AgentOSError('AOS_E_AGENT_TERMINATED', `agent ${id} was terminated`));
    }
    agent.queue.splice(agent.busy ? 1 : 0);
    this.agents.delete(id);
    // An invocation in flight releases the instance when it ends (Executor.reap).
    if (!agent.busy) await this.executor.release(agent);
  }

  private transition(id: string, from: AgentState[], to: AgentState, op: string): AgentRuntime {
    this.check();
    const agent = this.agent(id);
    const rec = agent.record;
    if (!from.includes(rec.state)) {
      throw new AgentOSError('AOS_E_BAD_STATE', `cannot ${op} ${id}: it is ${rec.state}`, {
        state: rec.state,
      });
    }
    rec.state = to;
    rec.updatedAt = Number(this.services.clock.now());
    this.journalStore.append(id, { t: 'lifecycle', at: rec.updatedAt, op });
    this.persist(agent);
    return agent;
  }

  /** The agent's journal, hostcall payloads decoded, from sequence `from`. */
  async journal(id: string, options: { from?: number; limit?: number } = {}): Promise<ReadableEntry[]> {
    if (!this.processes.get(id) && !this.agents.has(id)) {
      throw new AgentOSError('AOS_E_AGENT_NOT_FOUND', `no agent ${JSON.stringify(id)}`, { agent: id });
    }
    this.journalStore.flush();
    await this.store.flushed();
    return [...this.journalStore.read(id, options.from ?? 0, options.limit)];
  }

  /** Resolves when everything written so far is on disk. */
  flushed(): Promise<void> {
    this.journalStore.flush();
    return this.store.flushed();
  }

  /** Finishes invocations in flight (up to 10 s), stops the workers and closes the data dir. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.executor.drain(10_000);
    clearTimeout(this.saveTimer);
    this.saveDirty();
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
      this.persist(agent);
    }
    for (const s of this.servers.values()) s.stop();
    await this.pool.close();
    for (const c of CAPABILITIES) await c.close?.(this.shared.get(c.name));
    this.journalStore.flush();
    await this.store.close();
  }
}

function parseSeed(seed: SpawnOptions['seed']): string {
  if (seed === undefined) return randomBytes(8).readBigUInt64LE().toString();
  let v: bigint;
  try {
    v = BigInt(seed);
  } catch {
    throw new AgentOSError('AOS_E_BAD_CONFIG', `seed must be an integer, got ${String(seed)}`);
  }
  if (v < 0n || v >= 1n << 64n)
    throw new AgentOSError('AOS_E_BAD_CONFIG', `seed must fit in a u64, got ${v}`);
  return v.toString();
}

function sanitizeName(name: string): string {
  const clean = name
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40);
  return clean || 'agent';
}
