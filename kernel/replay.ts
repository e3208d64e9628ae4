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
import type { KernelOptions } from './api.js';
import type { KernelAssembly } from './assembly.js';
import { AgentOSError } from './base/errors.js';
import { checkWhole } from './base/validate.js';
import { readComponent } from './loader/loader.js';
import type { Divergence } from './replay/cursor.js';
import { stepsOf } from './replay/steps.js';
import { replayIn } from './replay-run.js';
import type { Checkpoint } from './store/checkpoints.js';
import type { JournalEntry } from './store/journal.js';
import type { AgentRecord } from './store/process-table.js';

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
  /**
   * Set when it started from a checkpoint (the journal before it was pruned, or the agent was
   * forked): the journal entry the checkpoint's state includes. Invocations count from there.
   */
  checkpoint?: number;
  divergence?: Divergence;
}

/** An agent's recorded run: its record, its whole journal, and the bytes of each component it ran. */
export interface RecordedAgent {
  record: Omit<AgentRecord, 'capState'>;
  entries: readonly JournalEntry[];
  bytes(digest: string): Uint8Array;
  /** Replay from this state (the entries after it) instead of from the spawn. */
  checkpoint?: Checkpoint;
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
  const checkpoint = startOf(source, id, entries);
  return replayRecorded(
    iso,
    { record: rec, entries, bytes: (d) => source.loader.stored(d), ...(checkpoint ? { checkpoint } : {}) },
    options,
  );
}

/**
 * Where a replay of `id` starts: its spawn when its journal is whole from there and its first
 * instance ran init; else (the journal before a checkpoint was pruned, or it was forked) its
 * oldest checkpoint. @throws AgentOSError AOS_E_REPLAY when it has none
 */
export function startOf(
  source: KernelAssembly,
  id: string,
  entries: readonly JournalEntry[],
): Checkpoint | undefined {
  const forked = entries[0]?.t === 'spawn' && entries[0].from !== undefined;
  const whole = entries.every((e, i) => e.seq === i);
  if (!forked && whole) return undefined;
  const cp = source.checkpoints.oldest(id);
  if (!cp)
    throw new AgentOSError(
      'AOS_E_REPLAY',
      `${id} ${forked ? 'was forked' : 'has a pruned journal'} and no checkpoint is kept: nothing to replay from`,
      { agent: id },
    );
  return cp;
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
  const cp = recordedAgent.checkpoint;
  const { invocations, spawn } = stepsOf(
    cp
      ? [recordedAgent.entries[0]!, ...recordedAgent.entries.filter((e) => e.seq > cp.seq)]
      : recordedAgent.entries,
    recordedAgent.record.id,
    cp !== undefined,
  );
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

async function bytesOf(component: string | Uint8Array): Promise<Uint8Array> {
  if (typeof component === 'string') return readComponent(component);
  if (component instanceof Uint8Array) return component;
  throw new AgentOSError('AOS_E_BAD_ARGUMENT', 'component must be a path or the component bytes');
}
