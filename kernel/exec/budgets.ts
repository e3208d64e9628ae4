/**
 * Fuel budgets: what the next call into an agent may use, given its limits and what it has used
 * (this second, and over its life); and the accounting after each call.
 *
 * @example
 * const b = budgetFor(agent, now, tick, slice);
 * if ('fuel' in b) run(task with b) else wait(b);
 */
import type { AgentRuntime } from '../agents/agent.js';
import type { BatchResult, TaskResult, WireBudget } from '../worker/protocol.js';

/** Fuel per grant: how often a running call checks in with its meter (deadline, preemption). */
export const DEFAULT_TICK = 1_000_000;

/** Window budgets count fuel per this many ms. */
export const WINDOW_MS = 1000;

/** Why no call may start now. */
export type Blocked =
  | { blocked: 'window'; until: number }
  | { blocked: 'lifetime'; used: number; budget: number };

/** The fuel used in the agent's current one-second window (rolled over when it has passed). */
export function windowUsed(agent: AgentRuntime, now: number): number {
  const w = agent.window;
  if (now - w.start >= WINDOW_MS) {
    w.start = now;
    w.used = 0;
  }
  return w.used;
}

/** The budget of the agent's next call, or why none may start now. */
export function budgetFor(
  agent: AgentRuntime,
  now: number,
  tick: number,
  slice: number,
): WireBudget | Blocked {
  const rec = agent.record;
  const l = rec.limits;
  let fuel = l.fuel.invocation;
  let kind: WireBudget['kind'] = 'invocation';
  if (l.fuel.lifetime !== null) {
    const left = l.fuel.lifetime - rec.stats.fuel;
    if (left <= 0) return { blocked: 'lifetime', used: rec.stats.fuel, budget: l.fuel.lifetime };
    if (left < fuel) {
      fuel = left;
      kind = 'lifetime';
    }
  }
  if (l.fuel.perSecond !== null) {
    const left = l.fuel.perSecond - windowUsed(agent, now);
    if (left <= 0) return { blocked: 'window', until: agent.window.start + WINDOW_MS };
    if (left < fuel) {
      fuel = left;
      kind = 'window';
    }
  }
  return { fuel, kind, tick, slice, deadlineMs: l.deadlineMs };
}

/** A usage figure is a finite number, 0 or more; anything else would poison the sums. */
const valid = (n: unknown): n is number => typeof n === 'number' && Number.isFinite(n) && n >= 0;

/**
 * Checks a worker's usage figures in place before anything adds them up: a figure that is not
 * a finite number of 0 or more is replaced — fuel by `chargeFuel` (the call's whole budget, so
 * limits still bind), time and memory by 0 — and named in the returned list (empty when all are
 * sound), for the caller to log. A batch result's calls are checked each.
 *
 * @example
 * const bad = checkUsage(result, task.budget.fuel);
 * if (bad.length > 0) logger.error({ agent, bad }, 'a worker sent invalid usage figures');
 */
export function checkUsage(r: TaskResult | BatchResult, chargeFuel: number): string[] {
  if (r.kind === 'missing') return [];
  if (r.kind === 'batch')
    return r.results.flatMap((x, i) => checkUsage(x, chargeFuel).map((p) => `[${i}] ${p}`));
  const problems: string[] = [];
  const fix = (field: 'fuel' | 'us' | 'memory', to: number): void => {
    const v: unknown = r[field];
    if (valid(v)) return;
    problems.push(`${field} ${v === undefined ? 'missing' : `was ${String(v)}`}, counted as ${to}`);
    r[field] = to;
  };
  fix('fuel', chargeFuel);
  fix('us', 0);
  fix('memory', 0);
  return problems;
}

/**
 * Adds a call's usage to the agent's accounting (the record is saved by the caller). Figures
 * are checked first (checkUsage): an invalid fuel figure is charged as the agent's whole
 * per-invocation budget. Returns what was wrong with them (empty when nothing was), to log.
 */
export function account(agent: AgentRuntime, r: TaskResult, now: number): string[] {
  if (r.kind === 'missing') return [];
  const limits = agent.record.limits;
  const problems = checkUsage(r, limits.fuel.invocation);
  const s = agent.record.stats;
  // A record poisoned before these checks existed: counted as its lifetime spent, if it has one.
  if (!valid(s.fuel)) {
    problems.push(`stats.fuel was ${String(s.fuel)}, counted as ${limits.fuel.lifetime ?? 0}`);
    s.fuel = limits.fuel.lifetime ?? 0;
  }
  if (!valid(agent.window.used)) agent.window.used = limits.fuel.perSecond ?? 0;
  s.fuel += r.fuel;
  s.peakMemory = Math.max(s.peakMemory, r.memory);
  windowUsed(agent, now);
  agent.window.used += r.fuel;
  if (r.kind === 'crash' && r.code) s.limits[r.code] = (s.limits[r.code] ?? 0) + 1;
  return problems;
}
