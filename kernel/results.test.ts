import { describe, expect, it } from 'vitest';
import { codeOf } from '../testing/expect-error.js';
import { fixture, openKernel } from '../testing/harness.js';
import { AgentRuntime } from './agents/agent.js';
import { AgentOSError } from './base/errors.js';
import { DEFAULT_LIMITS } from './base/limits.js';
import { account, checkUsage } from './exec/budgets.js';
import type { AgentRecord } from './store/process-table.js';
import type { TaskResult } from './worker/protocol.js';

/** One delivery per message: these tests are about what a call returns, not about retries. */
const ONCE = { delivery: { attempts: 1 } };

/** The error a send rejects with (it must reject). */
async function errorOf(p: Promise<unknown>): Promise<AgentOSError> {
  const e = await p.then(
    () => null,
    (x: unknown) => x,
  );
  if (!(e instanceof AgentOSError)) throw new Error(`expected an AgentOSError, got ${String(e)}`);
  return e;
}

describe('results of any size', () => {
  it('returns a 6 MiB result, larger than the 4 MiB command channel, whole', async () => {
    const kernel = await openKernel(ONCE);
    const id = await kernel.spawn(await fixture('big-wat'));
    const bytes = 6 << 20;
    const answer = (await kernel.send(id, bytes)) as string;
    expect(answer.length).toBe(bytes - 2);
    expect(/^x+$/.test(answer)).toBe(true);
    const outcome = (await kernel.journal(id)).find((e) => e.t === 'outcome');
    expect(outcome).toMatchObject({ result: 'ok' });
    expect((outcome as { value: string }).value.length).toBe(bytes);
    const stats = kernel.inspect(id).stats;
    expect(Number.isFinite(stats.fuel) && stats.fuel > 0).toBe(true);
  });

  it('carries a message larger than the command channel to the agent (a large maxMessageBytes)', async () => {
    const kernel = await openKernel({ ...ONCE, maxMessageBytes: 8 << 20 });
    const id = await kernel.spawn(await fixture('echo-wat'));
    const body = { text: 'é'.repeat(3 << 20) }; // 6 MiB of UTF-8 each way
    expect(await kernel.send(id, body)).toEqual(body);
  });

  it('ends a call whose result is over maxResultBytes with AOS_E_RESULT_TOO_LARGE, counting its fuel', async () => {
    const limit = 64 << 10;
    const small = await openKernel({ ...ONCE, maxResultBytes: limit });
    const wide = await openKernel(ONCE);
    const refused = await small.spawn(await fixture('big-wat'));
    const allowed = await wide.spawn(await fixture('big-wat'));
    const e = await errorOf(small.send(refused, 100_000));
    expect(e.code).toBe('AOS_E_RESULT_TOO_LARGE');
    expect(e.message).toMatch(/handle returned 100000 bytes, more than the 65536-byte result limit/);
    expect(e.details).toMatchObject({ bytes: 100_000, limit });
    // The same call where it is allowed: fuel is deterministic, so the refused call's figure
    // (init plus the call, as here) is the true one.
    expect(((await wide.send(allowed, 100_000)) as string).length).toBe(99_998);
    const used = small.inspect(refused).stats;
    expect(used.fuel).toBe(wide.inspect(allowed).stats.fuel);
    expect(used).toMatchObject({ crashes: 1, limits: { AOS_E_RESULT_TOO_LARGE: 1 } });
    expect(small.inspect(refused)).toMatchObject({
      resident: false,
      lastError: { code: 'AOS_E_RESULT_TOO_LARGE' },
    });
    // The instance was discarded; the next message starts a fresh one and is answered.
    expect(await small.send(refused, 10)).toBe('xxxxxxxx');
    expect(small.inspect(refused).generation).toBe(2);
  });

  it('still suspends an agent at its lifetime fuel budget when every result is too large', async () => {
    // The attack: results over the channel used to come back with no fuel figure, the agent's
    // fuel count became NaN, and no lifetime budget stopped it again.
    const kernel = await openKernel({ ...ONCE, maxResultBytes: 4 << 20 });
    const id = await kernel.spawn(await fixture('big-wat'));
    const oversized = 5 << 20;
    expect((await errorOf(kernel.send(id, oversized))).code).toBe('AOS_E_RESULT_TOO_LARGE');
    const perCall = kernel.inspect(id).stats.fuel; // a fresh instance and one call
    expect(Number.isFinite(perCall) && perCall > 0).toBe(true);
    const lifetime = Math.floor(perCall * 3.5);
    kernel.configure(id, { limits: { fuel: { lifetime } } });
    const codes: string[] = [];
    for (let i = 0; i < 10 && kernel.inspect(id).state !== 'suspended'; i++)
      codes.push((await errorOf(kernel.send(id, oversized))).code);
    expect(codes.at(-1)).toBe('AOS_E_FUEL_EXHAUSTED');
    expect(codes.slice(0, -1).every((c) => c === 'AOS_E_RESULT_TOO_LARGE')).toBe(true);
    expect(codes.length).toBeGreaterThanOrEqual(2);
    expect(codes.length).toBeLessThanOrEqual(4);
    const info = kernel.inspect(id);
    expect(info.state).toBe('suspended');
    expect(info.lastError).toMatchObject({ code: 'AOS_E_FUEL_EXHAUSTED' });
    expect(Number.isFinite(info.stats.fuel)).toBe(true);
    // Three whole calls counted, and past the budget by at most one instance start (init runs
    // before the call is cut short).
    expect(info.stats.fuel).toBeGreaterThan(3 * perCall);
    expect(info.stats.fuel).toBeLessThanOrEqual(lifetime + perCall);
    // Suspended, it runs nothing more: the message that hit the limit stays queued.
    expect(info.mailbox).toBe(1);
  });

  it('cuts a batch short once its results reach maxResultBytes, so the batch can always be returned', async () => {
    // 24 answers of 60,000 bytes are ~1.4 MB: more than a command may return under a 64 KiB
    // limit (twice it plus 1 MiB), so a batch of them all could not come back.
    const kernel = await openKernel({ ...ONCE, maxResultBytes: 64 << 10 });
    const id = await kernel.spawn(await fixture('big-wat'));
    const answers = await Promise.all(Array.from({ length: 24 }, () => kernel.send(id, 60_000)));
    expect(answers.every((a) => (a as string).length === 59_998)).toBe(true);
    expect(kernel.inspect(id)).toMatchObject({ generation: 1, stats: { invocations: 24, crashes: 0 } });
  });

  it('refuses a maxResultBytes that is not a positive integer up to 256 MiB, before opening anything', async () => {
    for (const bad of [0, -1, 1.5, Number.NaN, 257 << 20, '1' as unknown as number])
      expect(await codeOf(openKernel({ maxResultBytes: bad }))).toMatch(
        /^AOS_E_BAD_CONFIG: maxResultBytes must be/,
      );
  });
});

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
