/**
 * The scheduler's benchmarks, each beside its baseline in the same run:
 * - the cost of one preemption (park + resume), against a bare Atomics round trip;
 * - an interactive echo agent's latency while 4 CPU hogs run, against the same agent on an idle
 *   kernel.
 */
import { Kernel } from '../kernel/kernel.js';
import { fixture, PROBE_GRANTS, sample, TEST_CACHE_DIR, tempHome } from '../kernel/testing/harness.js';
import { bareAtomicsRoundTrip } from './baselines.js';
import { type Figure, figure, percentiles, timeEach } from './measure.js';

const open = (options: Parameters<typeof Kernel.open>[0]): Promise<Kernel> =>
  Kernel.open({ home: tempHome(), cacheDir: TEST_CACHE_DIR, logLevel: 'silent', ...options });

/** Wall ms for two equal hogs to finish on one CPU permit with `sliceFuel`; and the parks. */
async function twoHogs(sliceFuel: number, n: number): Promise<{ ms: number; parks: number }> {
  const kernel = await open({ cpus: 1, workers: 3, sliceFuel });
  try {
    const probe = await fixture('probe');
    const ids = [
      await kernel.spawn(probe, { grants: PROBE_GRANTS }),
      await kernel.spawn(probe, { grants: PROBE_GRANTS }),
    ];
    await Promise.all(ids.map((id) => kernel.send(id, { op: 'spin', n: 1000 })));
    const t0 = performance.now();
    await Promise.all(ids.map((id) => kernel.send(id, { op: 'spin', n })));
    const ms = performance.now() - t0;
    const parks = ids.reduce((a, id) => a + kernel.inspect(id).stats.parks, 0);
    return { ms, parks };
  } finally {
    await kernel.close();
  }
}

async function preemption(log: (s: string) => void): Promise<Figure> {
  const n = 300_000;
  const runs: number[] = [];
  await twoHogs(Number.MAX_SAFE_INTEGER, n); // warm-up: first loads into the workers
  for (let i = 0; i < 3; i++) {
    // A slice larger than the work: the two calls run one after the other, never parked.
    const whole = await twoHogs(Number.MAX_SAFE_INTEGER, n);
    // One tick per slice: the calls take turns every ~0.2 ms.
    const sliced = await twoHogs(1_000_000, n);
    runs.push(((sliced.ms - whole.ms) * 1000) / Math.max(1, sliced.parks - whole.parks));
    log(
      `preemption: ${sliced.parks} parks, ${sliced.ms.toFixed(0)} ms against ${whole.ms.toFixed(0)} ms unsliced`,
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
