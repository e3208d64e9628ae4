/**
 * The worker side: a piscina worker that keeps agents' component instances resident and runs
 * their exports, taking tasks from its command channel. Each import the instance was linked with
 * is a stub that calls the kernel over the worker's hostcall channel; a function the worker may
 * answer itself (hostcalls/worker-side.ts) is answered here when it can be, and posted to the
 * kernel. A trap, a throw or a malformed return discards that instance only; the worker and its
 * other instances carry on.
 */
import { type MessagePort, receiveMessageOnPort, threadId } from 'node:worker_threads';
import { LOCAL_FUNCTIONS } from '../../hostcalls/worker-side.js';
import { HostcallClient, Status } from '../bridge/channel.js';
import { serveCommands } from '../bridge/commands.js';
import { Parker } from '../bridge/park.js';
import { PostWriter } from '../bridge/post-ring.js';
import type { LocalFunction } from '../capability.js';
import type { StoredMessage } from '../store/journal.js';
import { type Budget, DeadlinePassed, FuelExhausted, MemoryLimitHit, Meter } from './meter.js';
import type {
  BatchResult,
  ErrorValue,
  LoadTask,
  ModulesMessage,
  ServeTask,
  Task,
  TaskResult,
  UnloadTask,
  WireBudget,
} from './protocol.js';

interface Glue {
  instantiate(
    getCoreModule: (name: string) => WebAssembly.Module,
    imports: Record<string, Record<string, (...args: unknown[]) => unknown>>,
    instantiateCore: (module: WebAssembly.Module, imports?: WebAssembly.Imports) => WebAssembly.Instance,
  ): Record<string, (...args: unknown[]) => unknown>;
}

interface Instance {
  generation: number;
  exports: Record<string, (...args: unknown[]) => unknown>;
  meter: Meter;
  /** Its functions answered in the worker; what the kernel granted them lapses after each command. */
  locals: LocalFunction[];
}

const glues = new Map<string, Promise<Glue>>();
const modulesByDigest = new Map<string, Record<string, WebAssembly.Module>>();
const instances = new Map<string, Instance>();
/** This worker's hostcall channel and module port, from its `serve` task. */
let client: HostcallClient | null = null;
let parker: Parker | null = null;
let posts: PostWriter | null = null;
let modulePort: MessagePort | null = null;
/** Which message of the current command runs (a batch has several); posted calls carry it. */
let current = 0;

/** An Error with `payload`: jco's glue lowers it into the import's `err(...)`. */
class HostcallError extends Error {
  constructor(readonly payload: ErrorValue) {
    super(payload.val);
  }
}

function stub(fn: number, local?: LocalFunction): (...args: unknown[]) => unknown {
  return (...args: unknown[]) => {
    if (local) {
      const answer = local.answer(args);
      if (answer && posts!.post(fn, current, args, answer.value)) {
        answer.commit();
        return answer.value;
      }
      local.asking?.(args);
    }
    const { status, value, aside } = client!.call(fn, args);
    if (aside !== undefined) local?.told?.(args, aside);
    if (status === Status.Ok) return value;
    if (status === Status.GuestError) throw new HostcallError(value as ErrorValue);
    // A kernel fault: throwing a plain Error ends the invocation (the instance is discarded).
    throw new Error(String(value));
  };
}

type Imports = Record<string, Record<string, (...args: unknown[]) => unknown>>;

function importObject(plan: LoadTask['imports']): { imports: Imports; locals: LocalFunction[] } {
  const imports: Imports = {};
  const locals: LocalFunction[] = [];
  for (const [key, fns] of Object.entries(plan)) {
    const iface: Record<string, (...args: unknown[]) => unknown> = {};
    const cap = key.slice(key.indexOf('/') + 1);
    for (const [name, id] of Object.entries(fns)) {
      const local = LOCAL_FUNCTIONS[`${cap}.${name}`]?.();
      if (local) locals.push(local);
      iface[name] = stub(id, local);
    }
    imports[key] = iface;
    // The glue reads the unversioned key; tools reading the .d.ts expect the versioned one.
    imports[`${key}@0.1.0`] = iface;
  }
  return { imports, locals };
}

/** The command ended: credits the kernel granted for it lapse (it takes them back too). */
function lapse(locals: readonly LocalFunction[]): void {
  for (const l of locals) l.reset?.();
}

/** jco throws a ComponentError (an Error with an own `payload`) when an export returns `err`. */
const isComponentError = (e: unknown): e is { payload: ErrorValue } =>
  e instanceof Error && Object.hasOwn(e, 'payload') && !(e instanceof WebAssembly.RuntimeError);

const describe = (e: unknown): string =>
  e instanceof Error ? `${e.name}: ${e.message}` : `thrown ${typeof e}: ${String(e)}`;

/** Limits are coded: the kernel reports them under their own error codes. */
function limitOf(e: unknown): Pick<Extract<TaskResult, { kind: 'crash' }>, 'code' | 'details'> {
  if (e instanceof FuelExhausted)
    return { code: 'AOS_E_FUEL_EXHAUSTED', details: { used: e.used, budget: e.budget, budgetKind: e.kind } };
  if (e instanceof MemoryLimitHit)
    return {
      code: 'AOS_E_MEMORY_LIMIT',
      details: { bytes: e.bytes, requested: e.requested, limit: e.limit },
    };
  if (e instanceof DeadlinePassed) return { code: 'AOS_E_DEADLINE', details: { ms: e.ms } };
  if (e instanceof RangeError && /call stack/i.test(e.message))
    return { code: 'AOS_E_STACK_OVERFLOW', details: {} };
  return {};
}

/** Parks this worker when the scheduler wants its permit (see bridge/park.ts). */
function onTick(used: number, sliceUsed: number): number {
  if (!parker?.shouldYield(sliceUsed)) return 0;
  return parker.park(used);
}

const budgetOf = (b: WireBudget): Budget => {
  if (parker) parker.slice = b.slice;
  return budgetFields(b);
};

const budgetFields = (b: WireBudget): Budget => ({
  fuel: b.fuel,
  kind: b.kind,
  tick: b.tick,
  deadline: b.deadlineMs === null ? null : performance.now() + b.deadlineMs,
});

/**
 * Runs `f` against an instance under `budget` (null: a budget already begun, as for init after
 * instantiation); classifies the outcome. Any non-WIT failure drops the instance.
 */
function guard(
  agent: string,
  meter: Meter,
  budget: WireBudget | null,
  t0: number,
  f: () => unknown,
  check?: (v: unknown) => string | null,
): TaskResult {
  if (budget) meter.begin(budgetOf(budget));
  let value: unknown;
  let failure: { e: unknown } | null = null;
  try {
    value = f();
  } catch (e) {
    failure = { e };
  }
  const usage = { us: us(t0), thread: threadId, fuel: meter.end(), memory: meter.memoryBytes() };
  if (!failure) {
    const bad = check ? check(value) : null;
    if (bad === null) return { kind: 'ok', value, ...usage };
    instances.delete(agent);
    return { kind: 'crash', message: bad, ...usage };
  }
  const e = failure.e;
  if (isComponentError(e)) return { kind: 'error', error: e.payload, ...usage };
  instances.delete(agent);
  const limit = limitOf(e);
  // A limit's own message says it all; a trap or throw is named by its kind.
  const message = limit.code && limit.code !== 'AOS_E_STACK_OVERFLOW' ? (e as Error).message : describe(e);
  return { kind: 'crash', message, ...limit, ...usage };
}

const us = (t0: number): number => Math.round((performance.now() - t0) * 10000) / 10;

/** The JSON an export returned must parse; anything else is a malformed return value. */
function jsonCheck(what: string): (v: unknown) => string | null {
  return (v) => {
    if (typeof v !== 'string') return `${what} returned a ${typeof v}, not JSON text`;
    try {
      JSON.parse(v);
      return null;
    } catch {
      return `${what} returned malformed JSON: ${v.length > 80 ? `${v.slice(0, 80)}…` : v}`;
    }
  };
}

/** Every descriptor needs a name and JSON schemas that parse. */
function describeCheck(v: unknown): string | null {
  if (!Array.isArray(v)) return `describe returned a ${typeof v}, not a list`;
  for (const d of v as { name?: unknown; inputSchema?: unknown; outputSchema?: unknown }[]) {
    for (const schema of [d.inputSchema, ...(d.outputSchema === undefined ? [] : [d.outputSchema])]) {
      try {
        JSON.parse(schema as string);
      } catch {
        return `describe returned a malformed JSON schema for tool ${String(d.name)}`;
      }
    }
  }
  return null;
}

async function load(task: LoadTask): Promise<TaskResult> {
  const t0 = performance.now();
  if (task.modulesOnPort && modulePort) {
    // Posted just before this task; take every pending message (other digests may be queued).
    for (let m = receiveMessageOnPort(modulePort); m; m = receiveMessageOnPort(modulePort)) {
      const { digest, modules } = m.message as ModulesMessage;
      modulesByDigest.set(digest, modules);
    }
  }
  if (task.modules) modulesByDigest.set(task.digest, task.modules);
  const modules = modulesByDigest.get(task.digest);
  if (!modules) return { kind: 'missing', needModules: true, thread: threadId };
  let glue = glues.get(task.digest);
  if (!glue) {
    glue = import(task.glueUrl) as Promise<Glue>;
    glues.set(task.digest, glue);
  }
  const g = await glue;
  instances.delete(task.agent);
  const meter = new Meter(task.memoryBytes);
  meter.onTick = onTick;
  let exports: Instance['exports'] = {};
  const { imports, locals } = importObject(task.imports);
  current = 0;
  const started = guard(task.agent, meter, task.budget, t0, () => {
    exports = g.instantiate((name) => modules[name]!, imports, meter.instantiateCore);
    if (task.world === 'agent') exports.init!(task.config);
    return null;
  });
  lapse(locals);
  if (started.kind === 'crash' && !started.code && !exports.handle && !exports.invoke)
    started.message = `instantiation failed: ${started.message}`;
  // An instance whose init failed is never used: the kernel does not track it.
  if (started.kind === 'ok')
    instances.set(task.agent, { generation: task.generation, exports, meter, locals });
  return started;
}

/** The piscina task: serve the kernel's commands until it says stop. */
export default async function serve(task: ServeTask): Promise<void> {
  client = new HostcallClient({ sab: task.channel });
  parker = new Parker({ sab: task.park }, task.wanted);
  posts = new PostWriter({ sab: task.posts });
  modulePort = task.port;
  await serveCommands(task.commands, (t) => run(t as Task));
}

/** A stored message as the `handle` export takes it. */
const witMessage = (m: StoredMessage) => ({
  id: BigInt(m.id),
  kind: m.kind,
  sender: m.sender ?? undefined,
  body: m.body,
  sentAt: BigInt(m.sentAt),
});

async function run(task: Task): Promise<TaskResult | BatchResult> {
  if (task.op === 'unload') {
    for (const agent of task.agents) instances.delete(agent);
    return { kind: 'ok', value: null, us: 0, thread: threadId, fuel: 0, memory: 0 };
  }
  if (task.op === 'load') return load(task);
  const inst = instances.get(task.agent);
  if (!inst || inst.generation !== task.generation)
    return { kind: 'missing', needModules: false, thread: threadId };
  current = 0;
  parker?.setCurrent(0);
  try {
    return call(task, inst);
  } finally {
    lapse(inst.locals);
  }
}

function call(task: Exclude<Task, LoadTask | UnloadTask>, inst: Instance): TaskResult | BatchResult {
  const t0 = performance.now();
  const x = inst.exports;
  switch (task.op) {
    case 'handle': {
      const message = witMessage(task.message);
      return guard(task.agent, inst.meter, task.budget, t0, () => x.handle!(message), jsonCheck('handle'));
    }
    case 'handleBatch': {
      // In order, each under its own budget, until one crashes (its instance is gone then).
      const results: Exclude<TaskResult, { kind: 'missing' }>[] = [];
      let fuel = 0;
      for (const [i, m] of task.messages.entries()) {
        // Between messages, give way as a call would at a tick: the rest stay queued.
        if (i > 0 && parker?.shouldYield(fuel)) break;
        parker?.setCurrent(i);
        current = i;
        const message = witMessage(m);
        const r = guard(
          task.agent,
          inst.meter,
          task.budget,
          performance.now(),
          () => x.handle!(message),
          jsonCheck('handle'),
        );
        results.push(r as Exclude<TaskResult, { kind: 'missing' }>);
        if (r.kind !== 'missing') fuel += r.fuel;
        if (r.kind === 'crash') break;
      }
      return { kind: 'batch', results, thread: threadId };
    }
    case 'invoke': {
      const check = jsonCheck(`invoke(${task.tool})`);
      return guard(task.agent, inst.meter, task.budget, t0, () => x.invoke!(task.tool, task.args), check);
    }
    case 'describe':
      return guard(task.agent, inst.meter, task.budget, t0, () => x.describe!(), describeCheck);
  }
}
