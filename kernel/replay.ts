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
import type { Limits } from './base/limits.js';
import { checkWhole } from './base/validate.js';
import { readComponent } from './loader/loader.js';
import { type Divergence, type RecordedCall, ReplayCursor } from './replay/cursor.js';
import { type Step, stepsOf } from './replay/steps.js';
import type { JournalEntry } from './store/journal.js';
import { type AgentRecord, emptyStats } from './store/process-table.js';

export interface ReplayOptions {
  /** The first invocation checked (1-based); default 1. */
  from?: number;
  /** The last invocation replayed; default the last recorded. */
  to?: number;
  /** Check only the latest `last` invocations (the earlier ones still run). */
  last?: number;
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
  /** Recorded invocations not replayed: ended from outside (deadline, lost worker, window budget). */
  skipped: number;
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
  /**
   * The recording kernel's capabilities, their config, a transpile cache to share, and the
   * options that decide how a call can end (its result and message bounds).
   */
  base: Pick<
    KernelOptions,
    'capabilities' | 'config' | 'cacheDir' | 'logger' | 'maxResultBytes' | 'maxMessageBytes'
  >;
  /** Refuses bytes the signing policy would not load (other bytes given to replay on); returns their world. */
  admit(bytes: Uint8Array, what: string): Promise<string>;
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
      // Its own lines, marked, and only errors: a replayed crash is not the agent crashing again.
      logger: source.services.logger.child({ replay: id }, { level: 'error' }),
      ...(o.maxResultBytes === undefined ? {} : { maxResultBytes: o.maxResultBytes }),
      ...(o.maxMessageBytes === undefined ? {} : { maxMessageBytes: o.maxMessageBytes }),
    },
    admit: async (bytes, what) => {
      const info = await source.loader.inspect(bytes, what);
      source.policy.admit(bytes, info.digest, info.manifest, what);
      return info.world;
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
  if (options.last !== undefined) checkWhole(options.last, 'last');
  // The journal is read (and refused, if it cannot be replayed) before a kernel is opened.
  const { invocations, spawn } = stepsOf(recordedAgent.entries, recordedAgent.record.id);
  const to = options.to;
  if (options.from !== undefined && to !== undefined && options.from > to)
    throw new AgentOSError('AOS_E_BAD_ARGUMENT', `from (${options.from}) is after to (${to})`);
  if (options.from !== undefined && options.from > Math.max(1, invocations))
    throw new AgentOSError(
      'AOS_E_BAD_ARGUMENT',
      `from (${options.from}) is past the last recorded invocation (${invocations})`,
    );
  const latest = options.last === undefined ? undefined : Math.max(1, (to ?? invocations) - options.last + 1);
  const from = latest === undefined ? options.from : Math.max(options.from ?? 1, latest);
  const other = options.component === undefined ? undefined : await bytesOf(options.component);
  // Other bytes run only if the signing policy would load them.
  if (other) {
    const what = typeof options.component === 'string' ? options.component : 'the component to replay on';
    const world = await iso.admit(other, what);
    if (world !== spawn.world)
      throw new AgentOSError(
        'AOS_E_WRONG_WORLD',
        `${what} is of the ${world} world; ${recordedAgent.record.id} ran as ${spawn.world}`,
      );
  }
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
    skipped: 0,
    hostcalls: 0,
    recordedMs: recordedSpan(recorded.steps, to),
    replayMs: 0,
  };
  const cursor = new ReplayCursor();
  const fail = (invocation: number, e: unknown): ReplayReport => {
    if (!(e instanceof AgentOSError)) throw e;
    report.identical = false;
    report.divergence = {
      invocation,
      what: 'instance',
      expected: 'the component links with the recorded grants',
      actual: `${e.code}: ${e.message}`,
    };
    report.replayMs = Math.round(performance.now() - t0);
    return report;
  };
  let agent: AgentRuntime;
  try {
    agent = await place(core, rec, recorded.spawn, bytesFor(recorded.spawn.digest), cursor);
  } catch (e) {
    return fail(0, e);
  }
  let pending: RecordedCall[] | null = null; // a start's calls, made with the next invocation
  const [first, ...rest] = recorded.steps;
  if (first?.t !== 'start')
    throw new AgentOSError('AOS_E_REPLAY', `the journal of ${id} has no first instance start`);
  cursor.expect(first.calls, 0);
  const err = await core.executor.startFirst(agent, 'spawn');
  let diverged = check(cursor, report) ?? startedAsRecorded(err, recorded.initFailed);
  for (const step of rest) {
    if (diverged || (step.t === 'invoke' && step.invocation > to)) break;
    if (step.t === 'start' && step.entry.reason === 'resume') {
      // From a dormant agent's kept state: where its instance was, as the replay's still is.
    } else if (step.t === 'start') {
      core.executor.release(agent); // the recorded run started a new instance here
      pending = step.calls;
    } else if (step.t === 'settings') {
      const { limits, priority, weight } = step.entry;
      Object.assign(agent.record, { limits: timeless(limits), priority, weight });
    } else if (step.t === 'upgrade') {
      try {
        await switchTo(core, agent, bytesFor(step.entry.digest), step.entry.grants);
      } catch (e) {
        return fail(report.invocations + 1, e);
      }
    } else if (step.outcome.cut) {
      // Ended from outside (deadline, lost worker, window budget): it would not end so again.
      // Its instance was discarded; the recorded run's next start says so too.
      core.executor.release(agent);
      pending = null;
      report.skipped += 1;
    } else {
      cursor.expect([...(pending ?? []), ...step.calls], step.invocation);
      pending = null;
      diverged = await invoke(core, agent, cursor, step, report);
      report.invocations += 1;
      if (step.invocation >= from && !diverged) report.checked += 1;
    }
  }
  // A start after the last invocation (an upgrade's init): its calls are checked too.
  if (!diverged && pending && to === recorded.invocations) {
    cursor.expect(pending, report.invocations + 1);
    const late = await core.executor.startFirst(agent, 'upgrade');
    diverged = check(cursor, report) ?? startedAsRecorded(late, undefined);
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
    // The limits it ran under (journals written before they were recorded: its current ones).
    limits: timeless(spawn.limits ?? live.limits),
    priority: spawn.priority ?? live.priority,
    weight: spawn.weight ?? live.weight,
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

/** A divergence unless the instance started as the recorded one did (or failed with the same error). */
function startedAsRecorded(
  err: AgentOSError | null,
  recordedFailure: string | undefined,
): Divergence | undefined {
  if (!err && recordedFailure === undefined) return undefined;
  if (err && err.message === recordedFailure) return undefined;
  return {
    invocation: 0,
    what: 'instance',
    expected:
      recordedFailure === undefined
        ? 'the instance starts (init succeeds)'
        : `init fails: ${recordedFailure}`,
    actual: err ? err.message : 'the instance starts (init succeeds)',
  };
}

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

/**
 * The limits a replay runs under: the recorded ones less those measured against the wall clock
 * (the fuel window, the deadline), which a replay's pace would trip where the recorded run did
 * not. Where they ended a recorded call, that call is skipped (its outcome is marked `cut`).
 */
function timeless(limits: Limits): Limits {
  return { ...limits, fuel: { ...limits.fuel, perSecond: null }, deadlineMs: null };
}

/** How long one replayed invocation may take before the replay gives up on it. */
const STUCK_MS = 60_000;

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
  // The recorded run delivered it, so the agent took messages then: a suspension the replay
  // reproduced (a lifetime budget spent) was lifted in the recorded run before it.
  if (agent.record.state === 'suspended' || agent.record.state === 'crashed') agent.record.state = 'ready';
  const settled = agent.outcome(id, { timers: core.services.timers, external: false }).then(
    () => true,
    () => true,
  );
  core.bus.deliverStored(agent.id, message);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const ran = await Promise.race([
    settled,
    new Promise<false>((r) => {
      timer = setTimeout(() => r(false), STUCK_MS);
    }),
  ]);
  clearTimeout(timer);
  core.journalStore.tap = null;
  const diverged = check(cursor, report);
  if (diverged) return diverged;
  const want = step.outcome;
  const at = { invocation: step.invocation, seq: want.seq };
  if (!ran)
    return {
      ...at,
      what: 'outcome',
      expected: 'the invocation runs',
      actual: `it did not run within ${STUCK_MS / 1000} s`,
    };
  const shown = (o: { result: string; value: string }): string =>
    `${o.result} ${o.value.length > 300 ? `${o.value.slice(0, 300)}…` : o.value}`;
  if (!got) return { ...at, what: 'outcome', expected: shown(want), actual: 'no outcome' };
  if (got.result !== want.result || got.value !== want.value)
    return { ...at, what: 'outcome', expected: shown(want), actual: shown(got) };
  if (got.fuel !== want.fuel)
    return { ...at, what: 'fuel', expected: String(want.fuel), actual: String(got.fuel) };
  return undefined;
}
