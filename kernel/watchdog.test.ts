import { describe, expect, it } from 'vitest';
import { captureLog, fixture, openKernel, PROBE_GRANTS } from '../testing/harness.js';
import type { Kernel } from './kernel.js';

let kernel: Kernel;

/**
 * One worker, and meter grants so large that a call never checks in with its meter within its
 * deadline: as if its loop never reached a metering point. Only the watchdog can end it.
 */
const NO_TICKS = {
  workers: 1,
  maxWorkers: 1,
  tickFuel: 1e12,
  watchdogGraceMs: 200,
  delivery: { attempts: 1 },
};

const probe = async (k: Kernel): Promise<string> =>
  k.spawn(await fixture('probe'), { grants: PROBE_GRANTS, limits: { fuel: { invocation: 1e12 } } });

const failure = (p: Promise<unknown>): Promise<{ code?: string; details?: Record<string, unknown> }> =>
  p.then(
    () => ({}),
    (e: { code?: string; details?: Record<string, unknown> }) => e,
  );

describe('the watchdog', () => {
  it('ends a call that reaches no metering point past its deadline, and the worker’s other agents start afresh, losing nothing', async () => {
    const { lines, logger } = captureLog('warn');
    kernel = await openKernel({ ...NO_TICKS, logger });
    const runaway = await probe(kernel);
    const bystander = await probe(kernel);
    await kernel.send(bystander, { op: 'wm', calls: [['set', 'k', 'v']] });
    expect(kernel.inspect(bystander)).toMatchObject({ resident: true, generation: 1 });
    kernel.configure(runaway, { limits: { deadlineMs: 1000 } });
    const stopped = failure(kernel.send(runaway, { op: 'forever' }));
    // Messages for the agent that shares the worker wait meanwhile (one worker, at its maximum).
    const waiting = [1, 2, 3].map((n) => kernel.send(bystander, { op: 'echo', n }));
    const err = await stopped;
    expect(err).toMatchObject({
      code: 'AOS_E_DEADLINE',
      details: { watchdog: true, deadlineMs: 1000, deadLettered: true },
    });
    expect(err.details?.ms as number).toBeGreaterThan(1000);
    // The bystander's messages were all delivered, on a fresh instance, with its memory intact.
    expect(await Promise.all(waiting)).toEqual(
      [1, 2, 3].map((n) => expect.objectContaining({ body: { op: 'echo', n } })),
    );
    expect(kernel.inspect(bystander)).toMatchObject({ state: 'ready', generation: 2, mailbox: 0 });
    expect(await kernel.send(bystander, { op: 'wm', calls: [['get', 'k']] })).toEqual([{ ok: 'v' }]);
    // The runaway is counted crashed, charged its fuel budget (its meter went with the thread).
    const info = kernel.inspect(runaway);
    expect(info).toMatchObject({ state: 'crashed', lastError: { code: 'AOS_E_DEADLINE' } });
    expect(info.stats.limits).toEqual({ AOS_E_DEADLINE: 1 });
    expect(info.stats.fuel).toBeGreaterThanOrEqual(1e12);
    expect(
      lines.filter((l) => l.agent === runaway && String(l.msg).startsWith('worker terminated')),
    ).toHaveLength(1);
    // And the next message of the runaway gets a fresh instance on the new worker (without the
    // deadline: a first start there compiles its code, which a loaded machine makes slow).
    kernel.configure(runaway, { limits: { deadlineMs: null } });
    expect(await kernel.send(runaway, { op: 'state' })).toEqual({ handled: 1 });
  });

  it('blames only the batch message that ran away; those before it go again, those after it run', async () => {
    kernel = await openKernel(NO_TICKS);
    const id = await probe(kernel);
    kernel.configure(id, { limits: { deadlineMs: 2000 } });
    kernel.suspend(id);
    const before = kernel.send(id, { op: 'wm', calls: [['set', 'before', '1']] });
    const runaway = failure(kernel.send(id, { op: 'forever' }));
    const after = kernel.send(id, { op: 'echo', n: 3 });
    kernel.resume(id); // the three go over as one batch
    expect(await runaway).toMatchObject({ code: 'AOS_E_DEADLINE', details: { watchdog: true } });
    expect(await before).toEqual([{ ok: null }]);
    expect(await after).toMatchObject({ body: { n: 3 } });
    const journal = await kernel.journal(id);
    const outcomes = journal.flatMap((e) => (e.t === 'outcome' ? [[e.messageId, e.result]] : []));
    const ids = journal.flatMap((e) => (e.t === 'invoke' ? [e.message.id] : []));
    const [first, second, third] = [...new Set(ids)];
    // The first message's call was dropped with its worker, then ran again and committed once.
    expect(outcomes.filter(([m]) => m === first)).toEqual([
      [first, 'crash'],
      [first, 'ok'],
    ]);
    expect(outcomes.filter(([m]) => m === second)).toEqual([[second, 'crash']]);
    expect(outcomes.filter(([m]) => m === third)).toEqual([[third, 'ok']]);
    expect(kernel.inspect(id).stats.limits).toEqual({ AOS_E_DEADLINE: 1 });
  });

  it('refuses bad watchdog and tick options', async () => {
    await expect(openKernel({ watchdogGraceMs: 0 })).rejects.toMatchObject({ code: 'AOS_E_BAD_CONFIG' });
    await expect(openKernel({ tickFuel: 10 })).rejects.toMatchObject({ code: 'AOS_E_BAD_CONFIG' });
  });
});
