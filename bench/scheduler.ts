/**
 * The scheduler's benchmarks, each beside its baseline in the same run:
 * - the cost of one preemption (park + resume), against a bare Atomics round trip;
 * - an interactive echo agent's latency while 4 CPU hogs run, against the same agent on an idle
 *   kernel.
 */
import { fixture, PROBE_GRANTS, sample } from '../testing/harness.js';
import { bareAtomicsRoundTrip } from './baselines.js';
import { openBenchKernel } from './kernel.js';
import { type Figure, figure, percentiles, timeEach } from './measure.js';

// Scheduling latency, not the disk: the echo is answered when it returns (durability relaxed;
// bench/durability.ts measures what the wait for the disk adds).
const open = openBenchKernel;

/**
 * One kernel, one CPU permit, a slice of one tick (1 M fuel): two equal hogs run one after the
 * other (never parked: nothing waits), then both at once (they take turns every slice). The
 * extra wall time divided by the parks is what one park + resume costs; alternated 5 times on
 * the same warm workers, median.
 */
async function preemption(log: (s: string) => void): Promise<Figure> {
  const kernel = await open({ cpus: 1, workers: 3, sliceFuel: 1_000_000 });
  try {
    const probe = await fixture('probe');
    const ids = [
      await kernel.spawn(probe, { grants: PROBE_GRANTS }),
      await kernel.spawn(probe, { grants: PROBE_GRANTS }),
    ];
    const work = { op: 'spin', n: 300_000 };
    const parks = (): number => ids.reduce((a, id) => a + kernel.inspect(id).stats.parks, 0);
    for (const id of ids) await kernel.send(id, work); // warm: both instances, JIT tiers up
    const runs: number[] = [];
    for (let i = 0; i < 5; i++) {
      let t0 = performance.now();
      for (const id of ids) await kernel.send(id, work);
      const alone = performance.now() - t0;
      const before = parks();
      t0 = performance.now();
      await Promise.all(ids.map((id) => kernel.send(id, work)));
      const together = performance.now() - t0;
      const n = parks() - before;
      runs.push(((together - alone) * 1000) / Math.max(1, n));
      log(
        `preemption: ${n} parks, ${together.toFixed(0)} ms together against ${alone.toFixed(0)} ms one after the other`,
      );
    }
    const bare = await bareAtomicsRoundTrip(20_000);
    const us = percentiles(runs).p50;
    log(`one preemption: ${us.toFixed(1)} µs (bare Atomics round trip ${bare.meanUs.toFixed(1)} µs)`);
    return figure(
      'one preemption: park + resume of a running call (extra wall time per park, two hogs, 1 CPU)',
      us,
      'µs',
      'bare Atomics round trip, worker ↔ main thread',
      bare.meanUs,
    );
  } finally {
    await kernel.close();
  }
}

async function interactiveUnderLoad(log: (s: string) => void): Promise<Figure[]> {
  const kernel = await open({ cpus: 2, workers: 7 });
  try {
    const echo = await kernel.spawn(await sample('echo'), { grants: ['log'], priority: 'interactive' });
    const idle = percentiles(await timeEach(1500, 300, () => kernel.send(echo, { text: 'hi' })));
    const probe = await fixture('probe');
    const hogs: string[] = [];
    for (let i = 0; i < 4; i++)
      hogs.push(await kernel.spawn(probe, { grants: PROBE_GRANTS, priority: 'batch' }));
    let running = true;
    const loops = hogs.map(async (id) => {
      while (running) await kernel.send(id, { op: 'spin', n: 200_000 });
    });
    await new Promise((r) => setTimeout(r, 100));
    const loaded = percentiles(await timeEach(1500, 300, () => kernel.send(echo, { text: 'hi' })));
    running = false;
    await Promise.all(loops);
    const parks = hogs.reduce((a, id) => a + kernel.inspect(id).stats.parks, 0);
    log(
      `interactive echo with 4 hogs: p50 ${loaded.p50.toFixed(1)} p99 ${loaded.p99.toFixed(1)} µs; idle p50 ${idle.p50.toFixed(1)} p99 ${idle.p99.toFixed(1)} µs; hogs parked ${parks} times`,
    );
    return [
      figure(
        'interactive echo while 4 CPU hogs run, p50',
        loaded.p50,
        'µs',
        'the same agent on an idle kernel, p50',
        idle.p50,
      ),
      figure(
        'interactive echo while 4 CPU hogs run, p99',
        loaded.p99,
        'µs',
        'the same agent on an idle kernel, p99',
        idle.p99,
      ),
    ];
  } finally {
    await kernel.close();
  }
}

export async function schedulerFigures(log: (s: string) => void): Promise<Figure[]> {
  return [await preemption(log), ...(await interactiveUnderLoad(log))];
}
