import { describe, expect, it } from 'vitest';
import type { Kernel } from './kernel.js';
import { fixture, openKernel, PROBE_GRANTS } from './testing/harness.js';

let kernel: Kernel;

const probe = async (k: Kernel, options: Parameters<Kernel['spawn']>[1] = {}): Promise<string> =>
  k.spawn(await fixture('probe'), { grants: PROBE_GRANTS, ...options });

/** Fuel of the agent's last completed call, from its journal. */
async function lastCallFuel(k: Kernel, id: string): Promise<number> {
  const outcomes = (await k.journal(id)).filter((e) => e.t === 'outcome');
  const last = outcomes[outcomes.length - 1];
  if (last?.t !== 'outcome') throw new Error(`no outcome for ${id}`);
  return last.fuel;
}

describe('the scheduler', () => {
  it('shares one CPU between two hogs by weight, 1:3 within 10 %, counted in fuel', async () => {
    kernel = await openKernel({ cpus: 1, workers: 3, sliceFuel: 2_000_000 });
    const light = await probe(kernel, { weight: 1 });
    const heavy = await probe(kernel, { weight: 3 });
    const work = { op: 'spin', n: 120_000 };
    const a = kernel.send(light, work);
    const b = kernel.send(heavy, work);
    await b;
    const lightSoFar = kernel.inspect(light).running;
    const heavyFuel = await lastCallFuel(kernel, heavy);
    expect(lightSoFar).not.toBeNull();
    const ratio = lightSoFar!.fuel / heavyFuel;
    expect(ratio).toBeGreaterThan((1 / 3) * 0.9);
    expect(ratio).toBeLessThan((1 / 3) * 1.1);
    await a;
    expect(kernel.inspect(light).stats.parks).toBeGreaterThan(5);
    expect(kernel.inspect(heavy).stats.parks).toBeGreaterThan(5);
  });

  it('never lets a batch hog hold up an interactive agent: the hog is preempted at its next tick', async () => {
    kernel = await openKernel({ cpus: 1, workers: 3 });
    const hog = await probe(kernel, { priority: 'batch' });
    const quick = await probe(kernel, { priority: 'interactive' });
    let hogDone = false;
    const hogCall = kernel.send(hog, { op: 'spin', n: 600_000 }).then(() => {
      hogDone = true;
    });
    while (kernel.inspect(hog).busy === false) await new Promise((r) => setTimeout(r, 1));
    await new Promise((r) => setTimeout(r, 20));
    for (let i = 0; i < 5; i++)
      expect(await kernel.send(quick, { op: 'echo', i })).toMatchObject({ body: { i } });
    // The hog is still running: it was parked (preempted) for the interactive agent's calls.
    expect(hogDone).toBe(false);
    expect(kernel.inspect(hog).running).not.toBeNull();
    expect(kernel.inspect(hog).stats.parks).toBeGreaterThanOrEqual(1);
    await hogCall;
  });

  it('lets an agent of the same class in after one slice', async () => {
    kernel = await openKernel({ cpus: 1, workers: 3, sliceFuel: 2_000_000 });
    const hog = await probe(kernel);
    const other = await probe(kernel);
    let hogDone = false;
    const hogCall = kernel.send(hog, { op: 'spin', n: 600_000 }).then(() => {
      hogDone = true;
    });
    while (kernel.inspect(hog).busy === false) await new Promise((r) => setTimeout(r, 1));
    expect(await kernel.send(other, { op: 'echo' })).toMatchObject({ body: { op: 'echo' } });
    expect(hogDone).toBe(false);
    await hogCall;
  });

  it('gives the permit of a call blocked in a hostcall to runnable work', async () => {
    kernel = await openKernel({ cpus: 1, workers: 4 });
    const sleepers = [await probe(kernel), await probe(kernel)];
    const worker = await probe(kernel);
    const naps = sleepers.map((id) => kernel.send(id, { op: 'sleep', ms: 400 }));
    // Both hold a worker, neither a permit: with one permit, this needs the first to let go.
    while (!sleepers.every((id) => kernel.inspect(id).running?.blocked))
      await new Promise((r) => setTimeout(r, 2));
    expect(await kernel.send(worker, { op: 'spin', n: 20_000 })).toMatchObject({ spun: 20_000 });
    // The computation did not wait for them.
    for (const id of sleepers) expect(kernel.inspect(id).running).toMatchObject({ blocked: true });
    expect(await Promise.all(naps)).toEqual([{ slept: 400 }, { slept: 400 }]);
    for (const id of sleepers) expect(kernel.inspect(id).stats.blockedUs).toBeGreaterThan(300_000);
  });

  it('closes cleanly while calls are parked; their messages wait for the next open', async () => {
    kernel = await openKernel({ cpus: 1, workers: 3, closeTimeoutMs: 100 });
    const a = await probe(kernel);
    const b = await probe(kernel);
    const calls = [a, b].map((id) =>
      kernel.send(id, { op: 'forever' }).catch((e: { code: string }) => e.code),
    );
    while (kernel.inspect(a).stats.parks + kernel.inspect(b).stats.parks < 2)
      await new Promise((r) => setTimeout(r, 5));
    await kernel.close();
    expect(await Promise.all(calls)).toEqual(['AOS_E_KERNEL_CLOSED', 'AOS_E_KERNEL_CLOSED']);
  });

  it('refuses bad scheduler options', async () => {
    await expect(openKernel({ cpus: 0 })).rejects.toMatchObject({ code: 'AOS_E_BAD_CONFIG' });
    await expect(openKernel({ sliceFuel: -5 })).rejects.toMatchObject({ code: 'AOS_E_BAD_CONFIG' });
  });
});
