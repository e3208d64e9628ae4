/**
 * Dormant agents: waking one (its first message after its instance was dropped: an instance
 * started from its kept state, then the call) beside a cold spawn of the same component, in the
 * same run; and the kept state's size beside the instance's linear memory.
 */
import type { Kernel } from '../index.js';
import { Kernel as KernelWithDefaults } from '../index.js';
import { fixture, sample, TEST_CACHE_DIR, tempHome, until } from '../testing/harness.js';
import { devTrust } from '../toolchain/dev-key.js';
import { type Figure, figure, percentiles } from './measure.js';

const AGENTS = 12;

export async function dormancyFigures(log: (s: string) => void): Promise<Figure[]> {
  return [
    ...(await dormancy(log, 'QuickJS', await sample('echo'), '1.6 MB')),
    ...(await dormancy(log, 'SpiderMonkey', await fixture('echo-sm'), '12 MB')),
  ];
}

async function dormancy(
  log: (s: string) => void,
  engine: string,
  echo: string,
  size: string,
): Promise<Figure[]> {
  const kernel: Kernel = await KernelWithDefaults.open({
    home: tempHome(),
    cacheDir: TEST_CACHE_DIR,
    logLevel: 'silent',
    policy: { trust: devTrust() },
    dormantAfterMs: 1500, // long enough that woken agents stay awake while they are timed
  });
  try {
    await kernel.spawn(echo, { grants: ['log'] }); // warm: the component is compiled once
    const spawns: number[] = [];
    const ids: string[] = [];
    for (let i = 0; i < AGENTS; i++) {
      const t0 = performance.now();
      ids.push(await kernel.spawn(echo, { grants: ['log'] }));
      spawns.push((performance.now() - t0) * 1000);
    }
    for (const id of ids) await kernel.send(id, { text: 'before' });
    const memory = kernel.inspect(ids[0]!).stats.peakMemory;
    await until('every agent is dormant', () => ids.every((id) => kernel.inspect(id).dormant), 120_000);
    const kept = (await kernel.journal(ids[0]!)).find((e) => e.t === 'lifecycle' && e.op === 'dormant');
    const keptBytes = Number(
      /^(\d+) bytes$/.exec(kept?.t === 'lifecycle' ? (kept.detail ?? '') : '')?.[1] ?? 0,
    );
    const wakes: number[] = [];
    for (const id of ids) {
      const t0 = performance.now();
      await kernel.send(id, { text: 'after' });
      wakes.push((performance.now() - t0) * 1000);
    }
    const warm: number[] = [];
    for (const id of ids) {
      const t0 = performance.now();
      await kernel.send(id, { text: 'again' });
      warm.push((performance.now() - t0) * 1000);
    }
    const [wake, spawn, call] = [percentiles(wakes), percentiles(spawns), percentiles(warm)];
    log(
      `dormancy (${engine}): wake p50 ${(wake.p50 / 1000).toFixed(1)} ms, cold spawn p50 ${(spawn.p50 / 1000).toFixed(1)} ms, warm send ${(call.p50 / 1000).toFixed(2)} ms, kept ${keptBytes} of ${memory} bytes`,
    );
    return [
      figure(
        `wake a dormant JS agent (${engine}): its next message, answered (an instance from its kept state, then the call), p50 of ${AGENTS}`,
        wake.p50 / 1000,
        'ms',
        `a cold spawn of the same ${size} echo component (instantiate in a worker, init), p50`,
        spawn.p50 / 1000,
        '≤ 10 ms p50',
      ),
      figure(
        `the kept state of a dormant JS echo agent (${engine}; memories and globals, gzipped)`,
        keptBytes,
        'bytes',
        'its linear memory (peak)',
        memory,
      ),
    ];
  } finally {
    await kernel.close();
  }
}
