import { describe, expect, it } from 'vitest';
import { AgentRuntime } from './agent.js';
import { account, checkUsage } from './budgets.js';
import { DEFAULT_LIMITS } from './limits.js';
import type { AgentRecord } from './store/process-table.js';
import type { TaskResult } from './worker/protocol.js';

/** An agent with default limits (and `lifetime`), for the accounting checks. */
function agentWith(lifetime: number | null = null): AgentRuntime {
  const record = {
    id: 'a-1',
    limits: { ...DEFAULT_LIMITS, fuel: { ...DEFAULT_LIMITS.fuel, lifetime } },
    stats: { fuel: 0, peakMemory: 0, limits: {} },
  } as unknown as AgentRecord;
  return new AgentRuntime(record, new Map(), {});
}

describe('accounting takes only sound figures', () => {
  it('charges a result with no fuel figure its whole invocation budget, and says so', () => {
    const agent = agentWith();
    // What the command channel used to send for a result it could not carry.
    const poisoned = { kind: 'crash', message: 'the result cannot be returned', us: 0, thread: -1 };
    const problems = account(agent, poisoned as unknown as TaskResult, 0);
    expect(problems).toEqual([
      `fuel missing, counted as ${DEFAULT_LIMITS.fuel.invocation}`,
      'memory missing, counted as 0',
    ]);
    expect(agent.record.stats).toMatchObject({ fuel: DEFAULT_LIMITS.fuel.invocation, peakMemory: 0 });
    expect(agent.window.used).toBe(DEFAULT_LIMITS.fuel.invocation);
  });

  it('refuses NaN, infinite, negative and non-number figures, and keeps sound ones', () => {
    const agent = agentWith();
    const sound = { kind: 'ok', value: '1', us: 12.5, thread: 3, fuel: 1000, memory: 65536 } as TaskResult;
    expect(account(agent, sound, 0)).toEqual([]);
    for (const fuel of [Number.NaN, Number.POSITIVE_INFINITY, -5, '7']) {
      const r = { ...sound, fuel, us: -1, memory: Number.NaN } as unknown as TaskResult;
      expect(account(agent, r, 0)).toEqual([
        `fuel was ${String(fuel)}, counted as ${DEFAULT_LIMITS.fuel.invocation}`,
        'us was -1, counted as 0',
        'memory was NaN, counted as 0',
      ]);
      // Repaired in place, so whatever reads the result after (the journal) sees sound figures.
      expect(r).toMatchObject({ fuel: DEFAULT_LIMITS.fuel.invocation, us: 0, memory: 0 });
    }
    expect(agent.record.stats.fuel).toBe(1000 + 4 * DEFAULT_LIMITS.fuel.invocation);
    expect(agent.record.stats.peakMemory).toBe(65536);
  });

  it('checks each call of a batch, charging the budget it was given', () => {
    const ok = { kind: 'ok', value: '1', us: 1, thread: 1, fuel: 10, memory: 0 } as const;
    const batch = { kind: 'batch', thread: 1, results: [ok, { ...ok, fuel: undefined }] };
    expect(checkUsage(batch as never, 5000)).toEqual(['[1] fuel missing, counted as 5000']);
    expect(batch.results.map((r) => r.fuel)).toEqual([10, 5000]);
  });

  it('heals a fuel count poisoned before: it counts as the lifetime budget spent', () => {
    const agent = agentWith(1_000_000);
    agent.record.stats.fuel = Number.NaN;
    const sound = { kind: 'ok', value: '1', us: 1, thread: 1, fuel: 10, memory: 0 } as TaskResult;
    expect(account(agent, sound, 0)).toEqual(['stats.fuel was NaN, counted as 1000000']);
    expect(agent.record.stats.fuel).toBe(1_000_010);
  });
});
