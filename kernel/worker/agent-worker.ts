/**
 * The worker side: a piscina worker that keeps agents' component instances resident and runs
 * their exports, taking tasks from its command channel. Each import the instance was linked with
 * is a stub that calls the kernel over the worker's hostcall channel; a function the worker may
 * answer itself (its capability's worker module) is answered here when it can be, and posted to the
 * kernel. A trap, a throw or a malformed return discards that instance only; the worker and its
 * other instances carry on.
 */
import '../base/wasm-features.js'; // first: extended-const before any compile
import { type MessagePort, receiveMessageOnPort, threadId } from 'node:worker_threads';
import { HostcallClient } from '../bridge/channel.js';
import { serveCommands } from '../bridge/commands.js';
import { Parker } from '../bridge/park.js';
import { PostWriter } from '../bridge/post-ring.js';
import type { LocalFunction } from '../sdk/capability.js';
import type { StoredMessage } from '../store/message.js';
import {
  type Check,
  type Crash,
  describeOrReport,
  errorBytes,
  failureOf,
  jsonCheck,
  resultBytes,
  valueCrash,
} from './classify.js';
import { endCommand, type Glue, type Imports, importObject, workerSides } from './imports.js';
import { admit, configureGate, dropped, memoriesOf, memoryCap, settle } from './memory-gate.js';
import { type Budget, Meter } from './meter.js';
import {
  type BatchResult,
  commandResultBytes,
  DEFAULT_MAX_RESULT_BYTES,
  type LoadTask,
  type ModulesMessage,
  type ServeTask,
  type SnapshotTask,
  type Task,
  type TaskResult,
  type UnloadTask,
  type WireBudget,
} from './protocol.js';
import { apply, capture, remember } from './snapshot.js';
import { Spares, spareKey, spareMaker } from './spares.js';

interface Instance {
  generation: number;
  /** Its component: a snapshot is kept against that component's fresh image. */
  digest: string;
  exports: Record<string, (...args: unknown[]) => unknown>;
  meter: Meter;
  /** Its functions answered in the worker; what the kernel granted them is void after each command. */
  locals: LocalFunction[];
}

const glues = new Map<string, Promise<Glue>>();
const modulesByDigest = new Map<string, Record<string, WebAssembly.Module>>();
const instances = new Map<string, Instance>();

/** Drops `agent`'s instance, if this worker holds one (its memories are garbage from now on). */
function drop(agent: string): void {
  const inst = instances.get(agent);
  if (!inst) return;
  instances.delete(agent);
  dropped(inst.meter.memories().length);
}
/** This worker's hostcall channel and module port, from its `serve` task. */
let client: HostcallClient | null = null;
let parker: Parker | null = null;
let posts: PostWriter | null = null;
let modulePort: MessagePort | null = null;
/** Which message of the current command runs (a batch has several); posted calls carry it. */
let current = 0;
/** The agent the current command is for (its instance goes if the result cannot be returned). */
let currentAgent: string | null = null;
/** The largest value one call may return (the kernel's `maxResultBytes`). */
let maxResultBytes = DEFAULT_MAX_RESULT_BYTES;

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
 * instantiation); classifies the outcome. Any non-WIT failure drops the instance, and so does a
 * crash report, a value over `maxResultBytes` or a malformed value. The usage figures are taken
 * before anything else, so every outcome carries them.
 */
function guard(
  agent: string,
  meter: Meter,
  budget: WireBudget | null,
  t0: number,
  what: string,
  f: () => unknown,
  check?: Check,
): TaskResult {
  if (budget) meter.begin(budgetOf(budget));
  let value: unknown;
  let failure: { e: unknown } | null = null;
  try {
    value = f();
  } catch (e) {
    // A trap the meter asked for (fuel, deadline, memory limit): its reason, not the trap.
    failure = { e: meter.ending ?? e };
  }
  meter.ending = null;
  const usage = { us: us(t0), thread: threadId, fuel: meter.end(), memory: meter.memoryBytes() };
  const crash = (c: Crash | string): TaskResult => {
    drop(agent);
    return { kind: 'crash', ...(typeof c === 'string' ? { message: c } : c), ...usage };
  };
  if (!failure) {
    const bad = valueCrash(value, what, maxResultBytes, check);
    if (bad === null) return { kind: 'ok', value, ...usage };
    // A malformed value would come back the same way: the kernel does not retry it.
    return crash(typeof bad === 'string' ? { message: bad, code: 'AOS_E_BAD_RESULT', details: {} } : bad);
  }
  const ended = failureOf(failure.e, what, maxResultBytes);
  return 'error' in ended ? { kind: 'error', error: ended.error, ...usage } : crash(ended);
}

const us = (t0: number): number => Math.round((performance.now() - t0) * 10000) / 10;

/**
 * A result the command channel cannot carry (a batch of large values past what it takes, or a
 * value the codec cannot encode): each call in it becomes a crash that keeps its usage figures,
 * and the instance goes.
 */
function unsendable(result: unknown, why: string): TaskResult | BatchResult {
  if (currentAgent !== null) drop(currentAgent);
  const asCrash = (r: TaskResult): TaskResult =>
    r.kind === 'missing'
      ? r
      : { kind: 'crash', message: why, us: r.us, thread: r.thread, fuel: r.fuel, memory: r.memory };
  const r = result as TaskResult | BatchResult;
  if (r.kind === 'batch') return { ...r, results: r.results.map((x) => asCrash(x) as typeof x) };
  return asCrash(r);
}

let spares = new Spares(0, () => {});

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
  drop(task.agent);
  const sides = await workerSides(task.workerModules);
  const key = spareKey(task);
  const snapshot = task.snapshot;
  /** From a snapshot: the state it was in, not init's. */
  const begin = (exports: Instance['exports'], meter: Meter): null => {
    if (snapshot) apply(meter.exports(), snapshot);
    else if (task.world === 'agent') exports.init!(task.config);
    return null;
  };
  const spare = spares.take(key);
  let meter: Meter;
  let exports: Instance['exports'] = {};
  let locals: LocalFunction[];
  let started: TaskResult;
  current = 0;
  if (spare) {
    ({ meter, exports, locals } = spare);
    meter.onTick = onTick;
    meter.resume(budgetOf(task.budget));
    spare.claim();
    started = guard(task.agent, meter, null, t0, 'init', () => begin(exports, meter));
  } else {
    const reserved = memoriesOf(task.digest, modules);
    let refused = await admit(reserved);
    // Spares give way to an instance that is wanted.
    if (refused && spares.clear() > 0) refused = await admit(reserved);
    if (refused) return { kind: 'crash', ...refused, us: us(t0), thread: threadId, fuel: 0, memory: 0 };
    const m = new Meter(memoryCap(task.memoryBytes));
    meter = m;
    meter.onTick = onTick;
    const link = { client: client!, posts: posts!, current: () => current };
    let imports: Imports;
    ({ imports, locals } = importObject(task.imports, sides, link));
    started = guard(task.agent, meter, task.budget, t0, 'init', () => {
      exports = g.instantiate((name) => modules[name]!, imports, m.instantiateCore);
      remember(task.digest, m.exports()); // the fresh image snapshots are kept against
      return begin(exports, m);
    });
    settle(reserved, meter.memories());
  }
  endCommand(locals);
  if (started.kind === 'crash' && !started.code && !exports.handle && !exports.invoke)
    started.message = `instantiation failed: ${started.message}`;
  // An instance whose init failed is never used: the kernel does not track it.
  // Memories of an instance that did not start are garbage from now on.
  if (started.kind !== 'ok') dropped(meter.memories().length);
  if (started.kind === 'ok') {
    instances.set(task.agent, { generation: task.generation, digest: task.digest, exports, meter, locals });
    spares.want(
      key,
      spareMaker(task, g, modules, sides, () => ({ client: client!, posts: posts!, current: () => current })),
    );
  }
  return spare && started.kind !== 'missing' ? { ...started, spare: true } : started;
}

/** The piscina task: serve the kernel's commands until it says stop. */
export default async function serve(task: ServeTask): Promise<void> {
  client = new HostcallClient({ sab: task.channel });
  parker = new Parker({ sab: task.park }, task.wanted);
  posts = new PostWriter({ sab: task.posts });
  modulePort = task.port;
  maxResultBytes = task.maxResultBytes;
  configureGate(task.memories, task.memoryCell, task.space);
  spares = new Spares(task.spares, (spare) => dropped(spare.meter.memories().length));
  await serveCommands(task.commands, (t) => run(t as Task), {
    maxResultBytes: commandResultBytes(maxResultBytes),
    unsendable,
    idle: (waiting) => spares.idle(waiting),
  });
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
  currentAgent = task.op === 'unload' ? null : task.agent;
  if (task.op === 'unload') {
    for (const agent of task.agents) drop(agent);
    return { kind: 'ok', value: null, us: 0, thread: threadId, fuel: 0, memory: 0 };
  }
  if (task.op === 'load') return load(task);
  const inst = instances.get(task.agent);
  if (!inst || inst.generation !== task.generation)
    return { kind: 'missing', needModules: false, thread: threadId };
  if (task.op === 'snapshot') {
    const t0 = performance.now();
    const value = capture(inst.digest, inst.meter.exports());
    const usage = { us: us(t0), thread: threadId, fuel: 0, memory: inst.meter.memoryBytes() };
    // Too large to carry back: said so, and the instance stays (a result the channel cannot
    // carry would cost the instance).
    if (value.length > maxResultBytes)
      return {
        kind: 'error',
        error: {
          tag: 'unavailable',
          val: `its state is ${value.length} bytes, more than maxResultBytes (${maxResultBytes})`,
        },
        ...usage,
      };
    return { kind: 'ok', value, ...usage };
  }
  current = 0;
  parker?.setCurrent(0);
  try {
    return call(task, inst);
  } finally {
    endCommand(inst.locals);
  }
}

function call(
  task: Exclude<Task, LoadTask | UnloadTask | SnapshotTask>,
  inst: Instance,
): TaskResult | BatchResult {
  const t0 = performance.now();
  const x = inst.exports;
  switch (task.op) {
    case 'handle': {
      const message = witMessage(task.message);
      const check = jsonCheck('handle');
      return guard(task.agent, inst.meter, task.budget, t0, 'handle', () => x.handle!(message), check);
    }
    case 'handleBatch': {
      // In order, each under its own budget, until one crashes (its instance is gone then).
      const results: Exclude<TaskResult, { kind: 'missing' }>[] = [];
      let fuel = 0;
      let bytes = 0;
      for (const [i, m] of task.messages.entries()) {
        // Between messages, give way as a call would at a tick: the rest stay queued. So do
        // they once the results reach maxResultBytes: the command's result stays carriable.
        if (i > 0 && (parker?.shouldYield(fuel) || bytes >= maxResultBytes)) break;
        parker?.setCurrent(i);
        current = i;
        const message = witMessage(m);
        const r = guard(
          task.agent,
          inst.meter,
          task.budget,
          performance.now(),
          'handle',
          () => x.handle!(message),
          jsonCheck('handle'),
        );
        results.push(r as Exclude<TaskResult, { kind: 'missing' }>);
        if (r.kind !== 'missing') fuel += r.fuel;
        if (r.kind === 'ok') bytes += resultBytes(r.value);
        else if (r.kind === 'error') bytes += errorBytes(r.error);
        if (r.kind === 'crash') break;
      }
      return { kind: 'batch', results, thread: threadId };
    }
    case 'invoke': {
      const what = `invoke(${task.tool})`;
      const check = jsonCheck(what);
      return guard(
        task.agent,
        inst.meter,
        task.budget,
        t0,
        what,
        () => x.invoke!(task.tool, task.args),
        check,
      );
    }
    case 'describe':
      return guard(
        task.agent,
        inst.meter,
        task.budget,
        t0,
        'describe',
        () => x.describe!(),
        describeOrReport,
      );
  }
}
