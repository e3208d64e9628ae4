/**
 * Fuel budgets: what the next call into an agent may use, given its limits and what it has used
 * (this second, and over its life); and the accounting after each call.
 *
 * @example
 * const b = budgetFor(agent, now, tick, slice);
 * if ('fuel' in b) run(task with b) else wait(b);
 */
import type { AgentRuntime } from './agent.js';
import type { TaskResult, WireBudget } from './worker/protocol.js';

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

/** Adds a call's usage to the agent's accounting (the record is saved by the caller). */
export function account(agent: AgentRuntime, r: TaskResult, now: number): void {
  if (r.kind === 'missing') return;
  const s = agent.record.stats;
  s.fuel += r.fuel;
  s.peakMemory = Math.max(s.peakMemory, r.memory);
  windowUsed(agent, now);
  agent.window.used += r.fuel;
  if (r.kind === 'crash' && r.code) s.limits[r.code] = (s.limits[r.code] ?? 0) + 1;
}
