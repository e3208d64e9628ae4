/**
 * Replay speed beside the recorded run, in the same run: a probe agent that waits on the clock
 * (40 invocations of `clock.sleep(50)` with a working-memory write each), and one that only
 * computes (20 invocations of a spin), each recorded, then replayed with `kernel.replay` (the
 * isolated kernel's open and close included).
 */
import type { Kernel } from '../index.js';
import { Kernel as KernelWithDefaults } from '../index.js';
import { fixture, PROBE_GRANTS, TEST_CACHE_DIR, tempHome } from '../testing/harness.js';
import { devTrust } from '../toolchain/dev-key.js';
import { type Figure, figure } from './measure.js';

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Runs `messages` into a new probe agent, then replays it 3 times: [run ms, replay ms (median), invocations]. */
async function recordAndReplay(k: Kernel, messages: unknown[]): Promise<[number, number, number]> {
  const id = await k.spawn(await fixture('probe'), { grants: PROBE_GRANTS });
  const t0 = performance.now();
  for (const m of messages) await k.send(id, m);
  const ran = performance.now() - t0;
  const replays: number[] = [];
  let invocations = 0;
  for (let i = 0; i < 3; i++) {
    const r = await k.replay(id);
    if (!r.identical) throw new Error(`the replay diverged: ${JSON.stringify(r.divergence)}`);
    replays.push(r.replayMs);
    invocations = r.invocations;
  }
  return [ran, median(replays), invocations];
}

export async function replayFigures(log: (s: string) => void): Promise<Figure[]> {
  const kernel = await KernelWithDefaults.open({
    home: tempHome(),
    cacheDir: TEST_CACHE_DIR,
    logLevel: 'silent',
    policy: { trust: devTrust() },
  });
  try {
    const waits = Array.from({ length: 40 }, (_, i) => [
      { op: 'sleep', ms: 50 },
      { op: 'wm', calls: [['set', `k${i}`, 'v']] },
    ]).flat();
    const [waitRun, waitReplay, waitN] = await recordAndReplay(kernel, waits);
    const spins = Array.from({ length: 20 }, () => ({ op: 'spin', n: 200_000 }));
    const [spinRun, spinReplay, spinN] = await recordAndReplay(kernel, spins);
    log(
      `replay: waiting run ${waitRun.toFixed(0)} ms, replayed in ${waitReplay} ms; compute run ${spinRun.toFixed(0)} ms, replayed in ${spinReplay} ms`,
    );
    return [
      figure(
        `replay of a recorded run that waited on timers (${waitN} invocations: 40 clock.sleep(50 ms), 40 working-memory writes), isolated kernel open and close included, median of 3`,
        waitReplay,
        'ms',
        'the recorded run itself (the same messages sent, each awaited)',
        Math.round(waitRun),
        '≥ 5× faster than the run (ratio ≤ 0.2)',
      ),
      figure(
        `replay of a recorded run that only computes (${spinN} invocations of a 200,000-round spin), isolated kernel included, median of 3`,
        spinReplay,
        'ms',
        'the recorded run itself',
        Math.round(spinRun),
      ),
    ];
  } finally {
    await kernel.close();
  }
}
