import { describe, expect, it } from 'vitest';
import { fixture, openKernel, PROBE_GRANTS, until } from '../testing/harness.js';
import { ManualClock } from './base/clock.js';
import { DEFAULT_TICK } from './exec/budgets.js';
import type { Kernel } from './kernel.js';

let kernel: Kernel;

const probe = async (k: Kernel, options: Parameters<Kernel['spawn']>[1] = {}): Promise<string> =>
  k.spawn(await fixture('probe'), { grants: PROBE_GRANTS, ...options });

/** A fuel budget no test call reaches: hours of CPU. */
const HOURS_OF_FUEL = 1e15;

describe('the scheduler', () => {
  it('shares one CPU between two hogs by weight, 1:3, counted in fuel', async () => {
    const slice = 2_000_000;
    kernel = await openKernel({ cpus: 1, workers: 3, sliceFuel: slice });
    const light = await probe(kernel, { weight: 1 });
    const heavy = await probe(kernel, { weight: 3 });
    const work = { op: 'spin', n: 240_000 };
    const calls = [kernel.send(light, work), kernel.send(heavy, work)];
    // Read both while both still run, in one turn: each figure is its fuel as of its last
    // preemption. Over hundreds of slices the share is fixed by fuel alone, whatever the load.
    const fuelOf = (id: string): number => kernel.inspect(id).running?.fuel ?? Number.NaN;
    await until('the heavy agent has run 300 slices', () => fuelOf(heavy) >= 300 * slice);
    const [l, h] = [fuelOf(light), fuelOf(heavy)];
    // Virtual time (fuel / weight) stays within about a slice between the two; each figure may
    // lag by a slice and a tick.
    expect(Math.abs(l - h / 3)).toBeLessThanOrEqual(3 * (slice + DEFAULT_TICK));
    await Promise.all(calls);
    expect(kernel.inspect(light).stats.parks).toBeGreaterThan(100);
    expect(kernel.inspect(heavy).stats.parks).toBeGreaterThan(100);
  });

  it('never lets a batch hog hold up an interactive agent: the hog is preempted at its next tick', async () => {
    kernel = await openKernel({ cpus: 1, workers: 3, closeTimeoutMs: 100 });
    const hog = await probe(kernel, { priority: 'batch', limits: { fuel: { invocation: HOURS_OF_FUEL } } });
    const quick = await probe(kernel, { priority: 'interactive' });
    // The hog never ends by itself: only preemption lets the interactive agent run.
    const hogCall = kernel.send(hog, { op: 'forever' }).catch((e: { code: string }) => e.code);
    let i = 0;
    const echo = async (): Promise<void> => {
      i += 1;
      expect(await kernel.send(quick, { op: 'echo', i })).toMatchObject({ body: { i } });
    };
    // The first echoes may come before the hog starts; once it computes, each one preempts it.
    await until('the hog is preempted', async () => {
      await echo();
      return kernel.inspect(hog).stats.parks >= 1;
    });
    for (let n = 0; n < 5; n++) await echo();
    expect(kernel.inspect(hog).running).not.toBeNull();
    await kernel.close();
    expect(await hogCall).toBe('AOS_E_KERNEL_CLOSED');
  });

  it('lets an agent of the same class in after one slice', async () => {
    kernel = await openKernel({ cpus: 1, workers: 3, sliceFuel: 2_000_000, closeTimeoutMs: 100 });
    const hog = await probe(kernel, { limits: { fuel: { invocation: HOURS_OF_FUEL } } });
    const other = await probe(kernel);
    const hogCall = kernel.send(hog, { op: 'forever' }).catch((e: { code: string }) => e.code);
    await until('the hog is preempted', async () => {
      expect(await kernel.send(other, { op: 'echo' })).toMatchObject({ body: { op: 'echo' } });
      return kernel.inspect(hog).stats.parks >= 1;
    });
    expect(kernel.inspect(hog).running).not.toBeNull();
    await kernel.close();
    expect(await hogCall).toBe('AOS_E_KERNEL_CLOSED');
  });

  it('gives the permit of a call blocked in a hostcall to runnable work', async () => {
    const clock = new ManualClock(1_000n);
    kernel = await openKernel({ cpus: 1, workers: 4, clock });
    const sleepers = [await probe(kernel), await probe(kernel)];
    const worker = await probe(kernel);
    const naps = sleepers.map((id) => kernel.send(id, { op: 'sleep', ms: 400 }));
    // Both hold a worker, neither a permit: with one permit, this needs the first to let go.
    await until('both sleepers block', () => sleepers.every((id) => kernel.inspect(id).running?.blocked));
    expect(await kernel.send(worker, { op: 'spin', n: 20_000 })).toMatchObject({ spun: 20_000 });
    // The computation did not wait for them: they wake only when the manual clock says so.
    for (const id of sleepers) expect(kernel.inspect(id).running).toMatchObject({ blocked: true });
    clock.advance(400n);
    expect(await Promise.all(naps)).toEqual([{ slept: 400 }, { slept: 400 }]);
    for (const id of sleepers) expect(kernel.inspect(id).stats.blockedUs).toBeGreaterThan(0);
  });

  it('closes cleanly while calls are parked; their messages wait for the next open', async () => {
    kernel = await openKernel({ cpus: 1, workers: 3, closeTimeoutMs: 100 });
    const a = await probe(kernel);
    const b = await probe(kernel);
    const calls = [a, b].map((id) =>
      kernel.send(id, { op: 'forever' }).catch((e: { code: string }) => e.code),
    );
    await until(
      'both are parked once',
      () => kernel.inspect(a).stats.parks + kernel.inspect(b).stats.parks >= 2,
    );
    await kernel.close();
    expect(await Promise.all(calls)).toEqual(['AOS_E_KERNEL_CLOSED', 'AOS_E_KERNEL_CLOSED']);
  });

  it('refuses bad scheduler options', async () => {
    await expect(openKernel({ cpus: 0 })).rejects.toMatchObject({ code: 'AOS_E_BAD_CONFIG' });
    await expect(openKernel({ sliceFuel: -5 })).rejects.toMatchObject({ code: 'AOS_E_BAD_CONFIG' });
  });
});
