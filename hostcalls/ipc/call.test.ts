/**
 * ipc.call: the one blocking IPC hostcall. The caller waits inside its own invocation for the
 * callee's answer, holding a worker but not a CPU permit, so other work goes on meanwhile; and
 * the pool grows (up to `maxWorkers`) when blocked calls hold every worker.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../kernel/base/clock.js';
import type { Kernel } from '../../kernel/kernel.js';
import { messenger, openKernel, until } from '../../testing/harness.js';

let kernel: Kernel;

/** Runs one ipc op inside agent `id` (the messenger fixture). */
const op = (k: Kernel, id: string, m: Record<string, unknown>): Promise<unknown> => k.send(id, m);

describe('ipc.call', () => {
  it('calls and blocks for the answer, giving its CPU permit away meanwhile', async () => {
    kernel = await openKernel({ cpus: 1, workers: 3 });
    const [a, b, c] = [
      await messenger(kernel, 'a'),
      await messenger(kernel, 'b'),
      await messenger(kernel, 'c'),
    ];
    expect(await op(kernel, a, { op: 'call', to: b, kind: 'task', body: 5 })).toEqual({
      ok: { doubled: 10 },
    });
    expect(await op(kernel, a, { op: 'call', to: b, kind: 'fail', body: 1 })).toEqual({
      err: { tag: 'invalid', val: 'cannot do 1' },
    });
    expect(await op(kernel, a, { op: 'call', to: a, kind: 'task', body: 1 })).toMatchObject({
      err: { tag: 'invalid' },
    });
    kernel.suspend(b);
    expect(await op(kernel, a, { op: 'call', to: b, kind: 'task', body: 1, timeoutMs: 50 })).toMatchObject({
      err: { tag: 'timed-out' },
    });
    // With one permit, c can run while a waits only if a gave its permit away.
    const waiting = op(kernel, a, { op: 'call', to: b, kind: 'task', body: 7, timeoutMs: 600_000 });
    await until('a blocks in its call', () => kernel.inspect(a).running?.blocked === true);
    expect(await op(kernel, c, { op: 'send', to: a, kind: 'note', body: 'meanwhile' })).toMatchObject({
      ok: expect.any(Number),
    });
    expect(kernel.inspect(a).running?.blocked).toBe(true);
    kernel.resume(b);
    expect(await waiting).toEqual({ ok: { doubled: 14 } });
    expect(kernel.inspect(a).stats.blockedUs).toBeGreaterThan(0);
  });

  it('lets a chain of blocking calls deeper than the workers go through: the pool grows, up to maxWorkers', async () => {
    // m0 calls m1, which calls m2, which calls m3: three calls blocked at once, on two workers.
    const chain = (ids: string[], [outer, middle, inner]: number[]) => ({
      op: 'call',
      to: ids[1],
      kind: 'text',
      timeoutMs: outer,
      body: {
        op: 'call',
        to: ids[2],
        kind: 'text',
        timeoutMs: middle,
        body: { op: 'call', to: ids[3], kind: 'task', body: 21, timeoutMs: inner },
      },
    });
    kernel = await openKernel({ cpus: 2, workers: 2 });
    let ids = [];
    for (let i = 0; i < 4; i++) ids.push(await messenger(kernel, `m${i}`));
    expect(await op(kernel, ids[0]!, chain(ids, [5000, 5000, 5000]))).toEqual({
      ok: { ok: { ok: { doubled: 42 } } },
    });
    await kernel.close();
    // At maxWorkers = workers the pool cannot grow: m1's call to m2 waits in vain, until the
    // (manual) clock passes its timeout; m0's own timeout is far later.
    const clock = new ManualClock(1_000n);
    kernel = await openKernel({ cpus: 2, workers: 2, maxWorkers: 2, clock });
    ids = [];
    for (let i = 0; i < 4; i++) ids.push(await messenger(kernel, `m${i}`));
    const outer = op(kernel, ids[0]!, chain(ids, [600_000, 300, 300]));
    await until('m1 blocks', () => kernel.inspect(ids[1]!).running?.blocked === true && clock.pending >= 2);
    expect(kernel.inspect(ids[2]!)).toMatchObject({ mailbox: 1, running: null });
    clock.advance(300n);
    expect(await outer).toMatchObject({ ok: { err: { tag: 'timed-out' } } });
    // m2 still takes the message once a worker is free (its own call to m3 goes through); wait for
    // it, as close would not start m3 and m2's timeout is on the manual clock.
    await until('m2 takes the late call', () => kernel.inspect(ids[2]!).mailbox === 0);
    await expect(openKernel({ workers: 3, maxWorkers: 2 })).rejects.toMatchObject({
      code: 'AOS_E_BAD_CONFIG',
      message: 'maxWorkers must be an integer of at least workers (3), got 2',
    });
  });
});
