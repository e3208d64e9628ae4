/**
 * Per-agent limits and scheduling parameters: kernel defaults, overridden per agent by its spawn
 * options (and later its manifest). Checked once, at spawn or `configure`, with coded errors;
 * stored in the agent's record so they survive a restart.
 *
 * @example
 * const limits = resolveLimits(DEFAULT_LIMITS, { fuel: { invocation: 5e8 }, memoryBytes: 64 << 20 });
 */
import { addressSpace, BOUNDED_MEMORY_BYTES } from './address-space.js';
import { AgentOSError } from './errors.js';

/** Fuel budgets, in fuel units (about one wasm instruction each); null: no limit. */
export interface FuelLimits {
  /** Per invocation (a message, a tool call, an instance start with init). */
  invocation: number;
  /** Per one-second window; an agent past it waits for the next window. */
  perSecond: number | null;
  /** Over the agent's whole life; past it, the agent is suspended until the limit is raised. */
  lifetime: number | null;
}

export interface Limits {
  fuel: FuelLimits;
  /** Linear memory cap per instance, in bytes. */
  memoryBytes: number;
  /** Wall-clock limit per invocation, in ms; null: none. */
  deadlineMs: number | null;
  /** Most messages queued in the mailbox; past it, senders get AOS_E_QUOTA_EXCEEDED. */
  mailbox: number;
  /** Hostcalls per second, per capability name (`log`, `working-memory`, ...); absent: no limit. */
  hostcallsPerSecond: Record<string, number>;
}

/** A partial override, as spawn options and `configure` take it. */
export type LimitsInput = Partial<Omit<Limits, 'fuel'>> & { fuel?: Partial<FuelLimits> };

/** Priority classes, highest first: a runnable agent of a higher class always goes first. */
export const PRIORITIES = ['interactive', 'normal', 'batch', 'idle'] as const;
export type Priority = (typeof PRIORITIES)[number];

export const DEFAULT_LIMITS: Limits = {
  // Seconds of CPU, and how many depends on the code. On the bench machine (bench/RESULTS.md)
  // warm JS ran ~3.9e10 fuel/s and compiled code 5e9–1.7e10/s, so this is ~1.3 s of warm JS and
  // 3–10 s of compiled code; a JS guest's first call, before V8 has tiered its code up, runs
  // over ten times slower (~3e9/s), so up to ~15 s. A JS echo costs ~5e5, a JS instance start
  // ~1.5e6. Agents that should be stopped sooner say so in their limits (and a deadline bounds
  // wall time).
  fuel: { invocation: 50_000_000_000, perSecond: null, lifetime: null },
  memoryBytes: 256 << 20,
  deadlineMs: null,
  mailbox: 10_000,
  hostcallsPerSecond: {},
};

const positive = (v: unknown, what: string, integer = true): number => {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v)))
    throw new AgentOSError(
      'AOS_E_BAD_CONFIG',
      `${what} must be a positive ${integer ? 'integer' : 'number'}, got ${String(v)}`,
    );
  if (v > Number.MAX_SAFE_INTEGER)
    throw new AgentOSError(
      'AOS_E_BAD_CONFIG',
      `${what} must be at most ${Number.MAX_SAFE_INTEGER}, got ${v}`,
    );
  return v;
};

const orNull = (v: unknown, what: string): number | null => (v === null ? null : positive(v, what));

function object(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new AgentOSError('AOS_E_BAD_CONFIG', `${what} must be an object, got ${JSON.stringify(v)}`);
  return v as Record<string, unknown>;
}

function onlyKeys(o: Record<string, unknown>, keys: readonly string[], what: string): void {
  for (const k of Object.keys(o))
    if (!keys.includes(k))
      throw new AgentOSError(
        'AOS_E_BAD_CONFIG',
        `${what} has no option ${JSON.stringify(k)} (known: ${keys.join(', ')})`,
      );
}

/** A memory cap; without the trap handler at most BOUNDED_MEMORY_BYTES (base/address-space.ts). */
function memoryCap(v: unknown, what: string): number {
  const n = positive(v, what);
  if (n > BOUNDED_MEMORY_BYTES && !addressSpace().trapHandler)
    throw new AgentOSError(
      'AOS_E_BAD_CONFIG',
      `${what} must be at most ${BOUNDED_MEMORY_BYTES} (1 GiB) in a process without the wasm trap handler (--disable-wasm-trap-handler bounds every memory), got ${n}`,
    );
  return n;
}

/** `base` with `input` applied, every value checked. */
export function resolveLimits(base: Limits, input: unknown, what = 'limits'): Limits {
  if (input === undefined) return structuredClone(base);
  const o = object(input, what);
  onlyKeys(o, ['fuel', 'memoryBytes', 'deadlineMs', 'mailbox', 'hostcallsPerSecond'], what);
  const out = structuredClone(base);
  if (o.fuel !== undefined) {
    const f = object(o.fuel, `${what}.fuel`);
    onlyKeys(f, ['invocation', 'perSecond', 'lifetime'], `${what}.fuel`);
    if (f.invocation !== undefined) out.fuel.invocation = positive(f.invocation, `${what}.fuel.invocation`);
    if (f.perSecond !== undefined) out.fuel.perSecond = orNull(f.perSecond, `${what}.fuel.perSecond`);
    if (f.lifetime !== undefined) out.fuel.lifetime = orNull(f.lifetime, `${what}.fuel.lifetime`);
  }
  if (o.memoryBytes !== undefined) out.memoryBytes = memoryCap(o.memoryBytes, `${what}.memoryBytes`);
  if (o.deadlineMs !== undefined) out.deadlineMs = orNull(o.deadlineMs, `${what}.deadlineMs`);
  if (o.mailbox !== undefined) out.mailbox = positive(o.mailbox, `${what}.mailbox`);
  if (o.hostcallsPerSecond !== undefined) {
    const h = object(o.hostcallsPerSecond, `${what}.hostcallsPerSecond`);
    out.hostcallsPerSecond = {};
    for (const [cap, rate] of Object.entries(h))
      out.hostcallsPerSecond[cap] = positive(rate, `${what}.hostcallsPerSecond.${cap}`, false);
  }
  return out;
}

export function checkPriority(v: unknown): Priority {
  if (v === undefined) return 'normal';
  if (!PRIORITIES.includes(v as Priority))
    throw new AgentOSError(
      'AOS_E_BAD_CONFIG',
      `priority must be one of ${PRIORITIES.join(', ')}, got ${JSON.stringify(v)}`,
    );
  return v as Priority;
}

export function checkWeight(v: unknown): number {
  if (v === undefined) return 1;
  const w = positive(v, 'weight', false);
  if (w > 1000) throw new AgentOSError('AOS_E_BAD_CONFIG', `weight must be at most 1000, got ${w}`);
  return w;
}
