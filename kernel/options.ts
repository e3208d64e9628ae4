/**
 * The kernel's options with their defaults applied and each checked, before anything is opened:
 * every option of KernelOptions (kernel/api.ts) is checked here, an unknown one is refused, and a
 * bad one is an AOS_E_BAD_CONFIG naming it, with nothing touched (Kernel.open calls this before
 * it builds its logger from `logLevel`).
 *
 * @example
 * const o = resolveOptions({ cpus: 2 });   // { cpus: 2, workers: 4, slice: 5_000_000, ... }
 * resolveOptions({ maxMessageBytes: -5 }); // AOS_E_BAD_CONFIG: maxMessageBytes must be ...
 */
import { availableParallelism } from 'node:os';
import type { KernelOptions } from './api.js';
import { AgentOSError } from './base/errors.js';
import { DEFAULT_LIMITS, type Limits, resolveLimits } from './base/limits.js';
import { shown } from './base/validate.js';
import { DEFAULT_TICK } from './exec/budgets.js';
import type { Durability } from './exec/commits.js';
import { DEFAULT_MAX_RESULT_BYTES, DEFAULT_SPARES, MAX_RESULT_BYTES } from './worker/protocol.js';

export interface ResolvedOptions {
  cpus: number;
  workers: number;
  /** The pool grows up to this many workers when blocked calls hold all of them. */
  maxWorkers: number;
  /** Fuel a call runs before it yields to waiting work of its class. */
  slice: number;
  /** Deliveries per message before it is dead-lettered, and the first retry's delay. */
  attempts: number;
  backoffMs: number;
  limits: Limits;
  durableMailboxes: boolean;
  /** Most queued messages handed to a worker in one command. */
  batch: number;
  /** When an outside caller is answered: once the invocation is on disk, or at once. */
  durability: Durability;
  /** Fuel per meter grant: how often a running call checks in (deadline, preemption). */
  tick: number;
  /** How far past its deadline a call that reaches no metering point runs before its worker is terminated. */
  watchdogGraceMs: number;
  /** The largest value one call may return, in bytes. */
  maxResultBytes: number;
  /** How long an agent sits idle before it goes dormant; null: never. */
  dormantAfterMs: number | null;
  /** Committed invocations between an agent's checkpoints; null: only on suspend and dormancy. */
  checkpointEvery: number | null;
  /** What a lost instance's next start does: rebuild its state from the journal, or run init. */
  recovery: 'rebuild' | 'init';
  /** Whether the journal before an agent's oldest checkpoint is dropped as checkpoints are kept. */
  retention: 'all' | 'checkpoints';
  /** Where the automatic prunes archive what they drop; null: nowhere. */
  journalArchiveDir: string | null;
  /** Spare instances per worker per component it started lately. */
  spares: number;
}

const bad = (why: string): AgentOSError => new AgentOSError('AOS_E_BAD_CONFIG', why);

const KNOWN: readonly (keyof KernelOptions)[] = [
  'home',
  'cpus',
  'workers',
  'maxWorkers',
  'sliceFuel',
  'delivery',
  'mailboxes',
  'logger',
  'logLevel',
  'clock',
  'cacheDir',
  'maxMessageBytes',
  'closeTimeoutMs',
  'deliver',
  'limits',
  'onProgress',
  'durability',
  'tickFuel',
  'watchdogGraceMs',
  'maxResultBytes',
  'dormantAfterMs',
  'checkpointEvery',
  'recovery',
  'retention',
  'journalArchiveDir',
  'spares',
  'capabilities',
  'config',
  'policy',
];

/** pino's levels, and `silent`. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Does `v` have a function under each of `names`? */
const hasMethods = (v: unknown, names: readonly string[]): boolean =>
  typeof v === 'object' &&
  v !== null &&
  names.every((n) => typeof (v as Record<string, unknown>)[n] === 'function');

/** The options resolveOptions does not return, checked: paths, functions, objects. */
function checkOthers(options: KernelOptions): void {
  for (const key of ['home', 'cacheDir'] as const) {
    const v = options[key];
    if (v !== undefined && (typeof v !== 'string' || v === ''))
      throw bad(`${key} must be a non-empty path, got ${shown(v)}`);
  }
  if (options.logLevel !== undefined && !(LOG_LEVELS as readonly unknown[]).includes(options.logLevel))
    throw bad(`logLevel must be one of ${LOG_LEVELS.join(', ')}, got ${shown(options.logLevel)}`);
  if (options.logger !== undefined && !hasMethods(options.logger, ['debug', 'info', 'warn', 'error']))
    throw bad('logger must be a pino logger (an object with debug, info, warn and error)');
  if (options.clock !== undefined && !hasMethods(options.clock, ['now', 'monotonic', 'sleep']))
    throw bad('clock must be a Clock (an object with now, monotonic and sleep)');
  if (options.onProgress !== undefined && typeof options.onProgress !== 'function')
    throw bad(`onProgress must be a function, got ${shown(options.onProgress)}`);
  if (options.deliver !== undefined && typeof options.deliver !== 'boolean')
    throw bad(`deliver must be true or false, got ${shown(options.deliver)}`);
  const max = options.maxMessageBytes;
  if (max !== undefined && !(Number.isSafeInteger(max) && max > 0))
    throw bad(`maxMessageBytes must be a positive whole number of bytes, got ${shown(max)}`);
  const close = options.closeTimeoutMs;
  if (close !== undefined && !(typeof close === 'number' && Number.isFinite(close) && close >= 0))
    throw bad(`closeTimeoutMs must be 0 or more milliseconds, got ${shown(close)}`);
  const p = options.policy;
  if (p !== undefined) {
    if (typeof p !== 'object' || p === null || Array.isArray(p))
      throw bad(`policy must be an object, got ${shown(p)}`);
    for (const k of Object.keys(p))
      if (k !== 'allowUnsigned' && k !== 'trust')
        throw bad(`policy has no option ${JSON.stringify(k)} (known: allowUnsigned, trust)`);
    if (p.allowUnsigned !== undefined && typeof p.allowUnsigned !== 'boolean')
      throw bad(`policy.allowUnsigned must be true or false, got ${shown(p.allowUnsigned)}`);
    if (p.trust !== undefined && !Array.isArray(p.trust))
      throw bad(`policy.trust must be an array, got ${shown(p.trust)}`);
    for (const [i, a] of (p.trust ?? []).entries())
      if (typeof a !== 'object' || a === null || typeof a.publisher !== 'string')
        throw bad(`policy.trust[${i}] must be { publisher, key }, got ${shown(a)}`);
  }
  const d = options.delivery;
  if (d !== undefined) {
    if (typeof d !== 'object' || d === null || Array.isArray(d))
      throw bad(`delivery must be an object, got ${shown(d)}`);
    for (const k of Object.keys(d))
      if (!['attempts', 'backoffMs', 'batch'].includes(k))
        throw bad(`delivery has no option ${JSON.stringify(k)} (known: attempts, backoffMs, batch)`);
  }
}

/** Checks every option and applies the defaults. @throws AgentOSError AOS_E_BAD_CONFIG naming the option */
export function resolveOptions(options: KernelOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null || Array.isArray(options))
    throw bad('the kernel options must be an object');
  for (const key of Object.keys(options))
    if (!(KNOWN as string[]).includes(key))
      throw bad(`the kernel has no option ${JSON.stringify(key)} (known: ${KNOWN.join(', ')})`);
  checkOthers(options);
  const cpus = options.cpus ?? availableParallelism();
  if (!Number.isInteger(cpus) || cpus < 1) throw bad(`cpus must be a positive integer, got ${cpus}`);
  const workers = options.workers ?? cpus + 2;
  if (!Number.isInteger(workers) || workers < 1)
    throw bad(`workers must be a positive integer, got ${workers}`);
  const maxWorkers = options.maxWorkers ?? workers + 16;
  if (!Number.isInteger(maxWorkers) || maxWorkers < workers)
    throw bad(`maxWorkers must be an integer of at least workers (${workers}), got ${maxWorkers}`);
  const slice = options.sliceFuel ?? 5_000_000;
  if (!Number.isSafeInteger(slice) || slice < 1)
    throw bad(`sliceFuel must be a positive integer, got ${slice}`);
  const attempts = options.delivery?.attempts ?? 3;
  if (!Number.isInteger(attempts) || attempts < 1 || attempts > 100)
    throw bad(`delivery.attempts must be 1..100, got ${attempts}`);
  const backoffMs = options.delivery?.backoffMs ?? 100;
  if (!Number.isFinite(backoffMs) || backoffMs < 0)
    throw bad(`delivery.backoffMs must be 0 or more, got ${backoffMs}`);
  const limits = resolveLimits(DEFAULT_LIMITS, options.limits, 'options.limits');
  const mailboxes = options.mailboxes ?? 'durable';
  if (mailboxes !== 'durable' && mailboxes !== 'memory')
    throw bad(`mailboxes must be "durable" or "memory", got ${JSON.stringify(mailboxes)}`);
  const batch = options.delivery?.batch ?? 32;
  if (!Number.isInteger(batch) || batch < 1 || batch > 1024)
    throw bad(`delivery.batch must be 1..1024, got ${batch}`);
  const tick = options.tickFuel ?? DEFAULT_TICK;
  if (!Number.isSafeInteger(tick) || tick < 1000)
    throw bad(`tickFuel must be an integer of at least 1000, got ${tick}`);
  const watchdogGraceMs = options.watchdogGraceMs ?? 1000;
  if (!Number.isFinite(watchdogGraceMs) || watchdogGraceMs < 1)
    throw bad(`watchdogGraceMs must be a positive number of ms, got ${watchdogGraceMs}`);
  const durability = options.durability ?? 'strict';
  if (durability !== 'strict' && durability !== 'relaxed')
    throw bad(`durability must be "strict" or "relaxed", got ${JSON.stringify(durability)}`);
  const maxResultBytes = options.maxResultBytes ?? DEFAULT_MAX_RESULT_BYTES;
  if (!Number.isSafeInteger(maxResultBytes) || maxResultBytes < 1 || maxResultBytes > MAX_RESULT_BYTES)
    throw bad(`maxResultBytes must be an integer from 1 to ${MAX_RESULT_BYTES}, got ${maxResultBytes}`);
  const dormantAfterMs = options.dormantAfterMs ?? null;
  if (
    dormantAfterMs !== null &&
    !(typeof dormantAfterMs === 'number' && Number.isFinite(dormantAfterMs) && dormantAfterMs >= 1)
  )
    throw bad(`dormantAfterMs must be a positive number of ms or null, got ${shown(dormantAfterMs)}`);
  const checkpointEvery = options.checkpointEvery === undefined ? 1000 : options.checkpointEvery;
  if (checkpointEvery !== null && !(Number.isSafeInteger(checkpointEvery) && checkpointEvery >= 1))
    throw bad(`checkpointEvery must be a positive integer or null, got ${shown(checkpointEvery)}`);
  const recovery = options.recovery ?? 'rebuild';
  if (recovery !== 'rebuild' && recovery !== 'init')
    throw bad(`recovery must be "rebuild" or "init", got ${shown(recovery)}`);
  const retention = options.retention ?? 'all';
  if (retention !== 'all' && retention !== 'checkpoints')
    throw bad(`retention must be "all" or "checkpoints", got ${shown(retention)}`);
  const journalArchiveDir = options.journalArchiveDir ?? null;
  if (journalArchiveDir !== null && (typeof journalArchiveDir !== 'string' || journalArchiveDir === ''))
    throw bad(`journalArchiveDir must be a directory path or null, got ${shown(journalArchiveDir)}`);
  const spares = options.spares ?? DEFAULT_SPARES;
  if (!(Number.isSafeInteger(spares) && spares >= 0 && spares <= 8))
    throw bad(`spares must be an integer from 0 to 8, got ${shown(spares)}`);
  return {
    spares,
    retention,
    journalArchiveDir,
    dormantAfterMs,
    checkpointEvery,
    recovery,
    durability,
    tick,
    watchdogGraceMs,
    cpus,
    workers,
    maxWorkers,
    slice,
    attempts,
    backoffMs,
    limits,
    durableMailboxes: mailboxes === 'durable',
    batch,
    maxResultBytes,
  };
}
