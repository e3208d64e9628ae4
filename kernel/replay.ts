/**
 * `kernel.replay(id)`: re-executes an agent's recorded run in an isolated kernel (its own
 * temporary data dir, one worker, in-memory mailboxes) and checks it against the journal. Each
 * recorded invocation's input message is delivered again exactly as it was (id, kind, sender,
 * body, sent-at); each hostcall is answered from the journal (replay/cursor.ts: no capability
 * runs, so no side effect happens and no time is waited); instances start where the recorded
 * run started them. The sequence of hostcalls and their arguments, each outcome and each
 * invocation's fuel must be identical. The first difference stops the replay and is reported
 * with the invocation, the hostcall index and the journal sequence number, expected beside
 * actual.
 *
 * `component` replays the recorded run on other bytes (a rebuilt or new version) to see whether
 * it behaves the same. `from` / `to` bound the invocations checked; the ones before `from` still
 * run (answered from the journal) to rebuild the state the checked ones start from.
 *
 * @example
 * const report = await kernel.replay(id);                 // { identical: true, invocations: 12, … }
 * const next = await kernel.replay(id, { component: 'dist/counter-2.wasm' });
 * next.divergence;   // { invocation: 3, hostcall: 1, expected: 'working-memory.get("count")', … }
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AgentRuntime } from './agents/agent.js';
import type { KernelOptions } from './api.js';
import type { KernelAssembly } from './assembly.js';
import { AgentOSError } from './base/errors.js';
import { checkWhole } from './base/validate.js';
import { readComponent } from './loader/loader.js';
import { type Divergence, ReplayCursor } from './replay/cursor.js';
import { type Step, stepsOf } from './replay/steps.js';
import type { JournalEntry } from './store/journal.js';
import { type AgentRecord, emptyStats } from './store/process-table.js';

export interface ReplayOptions {
  /** The first invocation checked (1-based); default 1. */
  from?: number;
  /** The last invocation replayed; default the last recorded. */
  to?: number;
  /** Replay on these bytes (a path or the bytes) instead of the recorded component. */
  component?: string | Uint8Array;
}

export interface ReplayReport {
  agent: string;
  /** True when every step replayed as recorded. */
  identical: boolean;
  /** Invocations replayed, and of them checked (within from..to). */
  invocations: number;
  checked: number;
  /** Hostcalls answered from the journal. */
  hostcalls: number;
  /** Of the recorded run: kernel-clock ms from the first invocation's start to the last outcome. */
  recordedMs: number;
  /** Wall-clock ms the replay took, kernel open and close included. */
  replayMs: number;
  divergence?: Divergence;
}

/** An agent's recorded run: its record, its whole journal, and the bytes of each component it ran. */
export interface RecordedAgent {
  record: Omit<AgentRecord, 'capState'>;
  entries: readonly JournalEntry[];
  bytes(digest: string): Uint8Array;
}

/** Where a replay runs: a kernel opened like the recording one, and the signing policy it keeps. */
export interface Isolation {
  /** Opens a kernel with `options` (the class's own `open`). */
  open(options: KernelOptions): Promise<{ core: KernelAssembly; close(): Promise<void> }>;
  /** The recording kernel's capabilities, their config, and a transpile cache to share. */
  base: Pick<KernelOptions, 'capabilities' | 'config' | 'cacheDir' | 'logger'>;
  /** Refuses bytes the signing policy would not load (other bytes given to replay on). */
  admit(bytes: Uint8Array, what: string): Promise<void>;
}

/**
 * The isolated kernel: the recording one's capabilities, their config and a shared transpile
 * cache, on a data dir of its own; one worker, in-memory mailboxes, each message delivered once
 * (a crash is not retried: the recorded run's retries are replayed as the invocations they were).
 */
function isolatedOptions(base: Isolation['base'], home: string): KernelOptions {
  return {
    ...base,
    home,
    workers: 1,
    mailboxes: 'memory',
    durability: 'relaxed',
    delivery: { attempts: 1, backoffMs: 0, batch: 1 },
  };
}

/** The replay of agent `id` of a running kernel, from its own journal. */
export async function replayAgent(
  source: KernelAssembly,
  open: Isolation['open'],
  id: string,
  options: ReplayOptions = {},
): Promise<ReplayReport> {
  const rec = source.processes.get(id);
  if (!rec) throw new AgentOSError('AOS_E_AGENT_NOT_FOUND', `no agent ${JSON.stringify(id)}`, { agent: id });
  await source.store.flushed();
  const o = source.options;
  const iso: Isolation = {
    open,
    base: {
      capabilities: o.capabilities ?? [],
      ...(o.config === undefined ? {} : { config: o.config }),
      cacheDir: source.loader.cacheDir,
      logger: source.services.logger,
    },
    admit: async (bytes, what) => {
      const info = await source.loader.inspect(bytes, what);
      source.policy.admit(bytes, info.digest, info.manifest, what);
    },
  };
  const entries = [...source.journalStore.entries(id)];
  return replayRecorded(iso, { record: rec, entries, bytes: (d) => source.loader.stored(d) }, options);
}

/** @throws AgentOSError AOS_E_BAD_ARGUMENT, AOS_E_REPLAY, and the signing policy's codes for `component` */
export async function replayRecorded(
  iso: Isolation,
  recordedAgent: RecordedAgent,
  options: ReplayOptions = {},
): Promise<ReplayReport> {
  const t0 = performance.now();
  if (options.from !== undefined) checkWhole(options.from, 'from');
  if (options.to !== undefined) checkWhole(options.to, 'to');
  // The journal is read (and refused, if it cannot be replayed) before a kernel is opened.
  stepsOf(recordedAgent.entries, recordedAgent.record.id);
  const { from, to } = options;
  const other = options.component === undefined ? undefined : await bytesOf(options.component);
  // Other bytes run only if the signing policy would load them.
  if (other)
    await iso.admit(
      other,
      typeof options.component === 'string' ? options.component : 'the component to replay on',
    );
  const bytesFor = (digest: string): Uint8Array => other ?? recordedAgent.bytes(digest);

  const range = { ...(from === undefined ? {} : { from }), ...(to === undefined ? {} : { to }) };
  const report = await isolated(iso, (core) => replayIn(core, recordedAgent, range, bytesFor));
  report.replayMs = Math.round(performance.now() - t0);
  return report;
}

/** Runs `f` on an isolated kernel opened for it, and removes that kernel's data dir after. */
export async function isolated<T>(iso: Isolation, f: (core: KernelAssembly) => Promise<T>): Promise<T> {
  const home = mkdtempSync(join(tmpdir(), 'agentos-replay-'));
  try {
    const k = await iso.open(isolatedOptions(iso.base, home));
    try {
      return await f(k.core);
    } finally {
      await k.close();
    }
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

/** Replays one recorded agent in `core` (an isolated kernel), invocations 1..`to`, checking from `from`. */
export async function replayIn(
  core: KernelAssembly,
  recordedAgent: RecordedAgent,
  range: { from?: number; to?: number },
  bytesFor: (digest: string) => Uint8Array = (d) => recordedAgent.bytes(d),
): Promise<ReplayReport> {
  const t0 = performance.now();
  const rec = recordedAgent.record;
  const id = rec.id;
  const recorded = stepsOf(recordedAgent.entries, id);
  const from = Math.max(1, range.from ?? 1);
  const to = Math.min(range.to ?? recorded.invocations, recorded.invocations);
  const report: ReplayReport = {
    agent: id,
    identical: true,
    invocations: 0,
    checked: 0,
    hostcalls: 0,
    recordedMs: recordedSpan(recorded.steps, to),
    replayMs: 0,
  };
  const cursor = new ReplayCursor();
  const agent = await place(core, rec, recorded.spawn, bytesFor(recorded.spawn.digest), cursor);
  let pending: JournalEntry[] = []; // a start's calls, made with the next invocation
  const [first, ...rest] = recorded.steps;
  if (first?.t !== 'start')
    throw new AgentOSError('AOS_E_REPLAY', `the journal of ${id} has no first instance start`);
  cursor.expect(first.calls, 0);
  const err = await core.executor.startFirst(agent, 'spawn');
  let diverged = check(cursor, report) ?? (err ? startDiverged(err.message) : undefined);
  for (const step of rest) {
    if (diverged || (step.t === 'invoke' && step.invocation > to)) break;
    if (step.t === 'start') {
      core.executor.release(agent); // the recorded run started a new instance here
      pending = step.calls;
    } else if (step.t === 'upgrade') {
      await switchTo(core, agent, bytesFor(step.entry.digest), step.entry.grants);
    } else {
      cursor.expect([...pending, ...step.calls] as never, step.invocation);
      pending = [];
      diverged = await invoke(core, agent, cursor, step, report);
      report.invocations += 1;
      if (step.invocation >= from && !diverged) report.checked += 1;
    }
  }
  if (diverged) {
    report.identical = false;
    report.divergence = diverged;
  }
  report.replayMs = Math.round(performance.now() - t0);
  return report;
}

async function bytesOf(component: string | Uint8Array): Promise<Uint8Array> {
  if (typeof component === 'string') return readComponent(component);
  if (component instanceof Uint8Array) return component;
  throw new AgentOSError('AOS_E_BAD_ARGUMENT', 'component must be a path or the component bytes');
}

/** Kernel-clock ms the recorded run spent from its first invocation to the last one replayed. */
function recordedSpan(steps: readonly Step[], to: number): number {
  const runs = steps.filter((s) => s.t === 'invoke' && s.invocation <= to) as Extract<
    Step,
    { t: 'invoke' }
  >[];
  if (runs.length === 0) return 0;
  return runs[runs.length - 1]!.outcome.at - runs[0]!.entry.at;
}

/** The agent in the isolated kernel: the recorded spawn's component, grants, config and seed. */
async function place(
  core: KernelAssembly,
  live: Omit<AgentRecord, 'capState'>,
  spawn: Extract<JournalEntry, { t: 'spawn' }>,
  bytes: Uint8Array,
  cursor: ReplayCursor,
): Promise<AgentRuntime> {
  const info = await core.loader.inspect(bytes, `the component of ${live.id}`);
  const loaded = core.loader.load(info, bytes);
  await loaded;
  core.loader.keep(bytes, info.digest);
  const record: AgentRecord = {
    ...structuredClone(live),
    digest: info.digest,
    imports: info.imports,
    world: spawn.world as AgentRecord['world'],
    grants: spawn.grants,
    config: spawn.config,
    seed: spawn.seed,
    state: 'ready',
    restart: 'on-message',
    generation: 0,
    lastError: null,
    stats: emptyStats(),
    capState: {},
  };
  const agent = core.agents.create(record);
  // Every call goes to the kernel (where the journal answers it): none is answered in the worker.
  agent.workerModules = {};
  agent.replay = cursor;
  agent.component = loaded;
  core.agents.add(agent);
  core.processes.put(record);
  return agent;
}

/** The recorded run switched components here (kernel.upgrade): so does the replay. */
async function switchTo(
  core: KernelAssembly,
  agent: AgentRuntime,
  bytes: Uint8Array,
  grants: string[],
): Promise<void> {
  const info = await core.loader.inspect(bytes, `the component of ${agent.id}`);
  const loaded = core.loader.load(info, bytes);
  await loaded;
  core.loader.keep(bytes, info.digest);
  core.executor.release(agent);
  Object.assign(agent.record, { digest: info.digest, imports: info.imports, grants });
  core.agents.relink(agent);
  agent.workerModules = {};
  agent.component = loaded;
}

const startDiverged = (message: string): Divergence => ({
  invocation: 0,
  what: 'instance',
  expected: 'the instance starts (init succeeds)',
  actual: message,
});

/** The cursor's divergence, or the recorded calls the replay did not make. */
function check(cursor: ReplayCursor, report: ReplayReport): Divergence | undefined {
  report.hostcalls += cursor.made;
  if (cursor.divergence) return cursor.divergence;
  const left = cursor.left();
  if (left.length === 0) return undefined;
  const next = left[0]!;
  return {
    invocation: cursor.invocation,
    hostcall: cursor.made,
    seq: next.seq,
    what: 'missing-hostcall',
    expected: `${left.length} more hostcall(s), first ${next.fn}`,
    actual: 'none',
  };
}

/** Delivers the recorded message again, waits for its outcome, and compares it with the record. */
async function invoke(
  core: KernelAssembly,
  agent: AgentRuntime,
  cursor: ReplayCursor,
  step: Extract<Step, { t: 'invoke' }>,
  report: ReplayReport,
): Promise<Divergence | undefined> {
  const { id, kind, sender, body, sentAt } = step.entry.message;
  const message = { id, kind, sender, body, sentAt };
  let got: Extract<JournalEntry, { t: 'outcome' }> | undefined;
  // The outcome as it is journaled: nothing needs to reach the disk first.
  core.journalStore.tap = (who, r) => {
    if (who === agent.id && r.t === 'outcome' && r.messageId === id) got = { ...r, seq: -1 };
  };
  const settled = agent.outcome(id, { timers: core.services.timers, external: false }).then(
    () => {},
    () => {},
  );
  core.bus.deliverStored(agent.id, message);
  await settled;
  core.journalStore.tap = null;
  const diverged = check(cursor, report);
  if (diverged) return diverged;
  const want = step.outcome;
  const at = { invocation: step.invocation, seq: want.seq };
  if (!got) return { ...at, what: 'outcome', expected: `${want.result} ${want.value}`, actual: 'no outcome' };
  if (got.result !== want.result || got.value !== want.value)
    return {
      ...at,
      what: 'outcome',
      expected: `${want.result} ${want.value}`,
      actual: `${got.result} ${got.value}`,
    };
  if (got.fuel !== want.fuel)
    return { ...at, what: 'fuel', expected: String(want.fuel), actual: String(got.fuel) };
  return undefined;
}
