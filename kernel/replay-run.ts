/**
 * One recorded agent replayed in an isolated kernel (kernel/replay.ts opens it): placed as its
 * journal's spawn record says, each recorded step taken again (instance starts, limits changed,
 * upgrades, invocations), each hostcall answered from the journal by the cursor, and each outcome
 * and its fuel compared with the record. The first difference ends it.
 *
 * @example
 * const report = await replayIn(core, { record, entries, bytes }, { from: 1, to: 40 });
 */
import type { AgentRuntime } from './agents/agent.js';
import type { KernelAssembly } from './assembly.js';
import { AgentOSError } from './base/errors.js';
import type { Limits } from './base/limits.js';
import { type Divergence, type RecordedCall, ReplayCursor } from './replay/cursor.js';
import { type Step, stepsOf } from './replay/steps.js';
import type { RecordedAgent, ReplayReport } from './replay.js';
import type { JournalEntry } from './store/journal.js';
import { type AgentRecord, emptyStats } from './store/process-table.js';

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
  const cp = recordedAgent.checkpoint;
  const recorded = stepsOf(tailOf(recordedAgent), id, cp !== undefined);
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
    ...(cp ? { checkpoint: cp.seq } : {}),
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
  const spawn = cp ? { ...recorded.spawn, digest: cp.digest, grants: cp.grants } : recorded.spawn;
  try {
    agent = await place(core, rec, spawn, bytesFor(spawn.digest), cursor);
  } catch (e) {
    return fail(0, e);
  }
  let pending: RecordedCall[] | null = null; // a start's calls, made with the next invocation
  let lastInit: RecordedCall[] = []; // the calls of the last start that ran init
  // The state after the last committed invocation, kept before a crash the recorded run
  // recovered from: every start that recovers (a crash retried, crashing again) starts from it.
  let saved: Uint8Array | null = null;
  let rest = recorded.steps;
  let diverged: Divergence | undefined;
  if (cp) {
    // From a checkpoint: the instance starts from its state, and calls nothing.
    cursor.expect([], 0);
    const err = await core.executor.startFirst(agent, 'fork', cp.bytes);
    diverged = check(cursor, report) ?? startedAsRecorded(err, undefined);
  } else {
    const [first, ...others] = recorded.steps;
    if (first?.t !== 'start')
      throw new AgentOSError('AOS_E_REPLAY', `the journal of ${id} has no first instance start`);
    rest = others;
    lastInit = first.calls;
    cursor.expect(first.calls, 0);
    const err = await core.executor.startFirst(agent, 'spawn');
    diverged = check(cursor, report) ?? startedAsRecorded(err, recorded.initFailed);
  }
  for (const [i, step] of rest.entries()) {
    if (diverged || (step.t === 'invoke' && step.invocation > to)) break;
    if (step.t === 'start' && (step.entry.reason === 'resume' || step.entry.reason === 'import')) {
      // From a dormant agent's kept state, or its state at its export: where its instance
      // was, as the replay's still is.
    } else if (step.t === 'start' && step.entry.reason === 'recover') {
      // The recorded run rebuilt the state it had after its last committed invocation: the
      // replay's instance still has it, or kept it before the crash, or starts as it did.
      if (agent.worker === null) {
        if (saved) agent.startFrom = saved;
        else pending = lastInit;
      }
    } else if (step.t === 'start') {
      core.executor.release(agent); // the recorded run started a new instance here
      pending = step.calls;
      lastInit = step.calls;
      saved = null;
    } else if (step.t === 'settings') {
      const { limits, priority, weight } = step.entry;
      Object.assign(agent.record, { limits: timeless(limits), priority, weight });
    } else if (step.t === 'upgrade') {
      saved = null;
      try {
        await switchTo(core, agent, bytesFor(step.entry.digest), step.entry.grants);
      } catch (e) {
        return fail(report.invocations + 1, e);
      }
    } else if (step.outcome.cut) {
      // Ended from outside (deadline, lost worker, window budget): it would not end so again.
      // Its instance was discarded (unless the recorded run rebuilt its state after it).
      if (nextStart(rest, i) !== 'recover') {
        core.executor.release(agent);
        pending = null;
      }
      report.skipped += 1;
    } else {
      if (step.outcome.result !== 'crash')
        saved = null; // the state moves on from it
      else if (nextStart(rest, i) === 'recover' && agent.worker !== null)
        saved = await core.executor.snapshotOf(agent);
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

/** The entries a replay reads: the whole journal, or the spawn and what follows the checkpoint. */
function tailOf({ entries, checkpoint }: RecordedAgent): readonly JournalEntry[] {
  if (!checkpoint) return entries;
  return [entries[0]!, ...entries.filter((e) => e.seq > checkpoint.seq)];
}

/** The reason of the next instance start after step `i`, if one comes before another upgrade. */
function nextStart(steps: readonly Step[], i: number): string | undefined {
  for (const s of steps.slice(i + 1)) {
    if (s.t === 'start') return s.entry.reason;
    if (s.t === 'upgrade') return undefined;
  }
  return undefined;
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
  spawn: Pick<
    Extract<JournalEntry, { t: 'spawn' }>,
    'world' | 'grants' | 'config' | 'seed' | 'limits' | 'priority' | 'weight'
  >,
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
  // No room in this process is not the component behaving otherwise: the replay cannot run.
  if (err?.code === 'AOS_E_CAPACITY') throw err;
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
