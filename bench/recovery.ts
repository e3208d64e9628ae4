/**
 * Recovery: the first message after a trap, answered on a heap rebuilt from the journal
 * (exec/recovery.ts), for an agent with a long journal: with checkpoints every CHECKPOINT_EVERY
 * invocations (at most that many executed again) beside none (every invocation since init
 * executed again) and beside starting afresh (`recovery: 'init'`, the heap lost), in the same
 * run; and what a checkpoint costs to take, beside a warm call.
 */
import type { Kernel, KernelOptions } from '../index.js';
import { Kernel as KernelWithDefaults } from '../index.js';
import { codeOf } from '../testing/expect-error.js';
import { fixture, PROBE_GRANTS, TEST_CACHE_DIR, tempHome } from '../testing/harness.js';
import { devTrust } from '../toolchain/dev-key.js';
import { type Figure, figure, percentiles } from './measure.js';

const JOURNAL = 1000; // committed invocations before the trap
/** The other journal lengths, for recovery time as a function of the journal's length. */
const LENGTHS = [250, 2000];
const CHECKPOINT_EVERY = 100;
const TAKES = 10;

/** ms from a trap to the next message's answer, after `n` echoes. */
async function afterTrap(
  options: Partial<KernelOptions>,
  n = JOURNAL,
): Promise<{ ms: number; handled: unknown }> {
  const kernel: Kernel = await KernelWithDefaults.open({
    home: tempHome(),
    cacheDir: TEST_CACHE_DIR,
    logLevel: 'silent',
    policy: { trust: devTrust() },
    delivery: { attempts: 1 },
    ...options,
  });
  try {
    const id = await kernel.spawn(await fixture('probe'), { grants: PROBE_GRANTS });
    for (let i = 0; i < n; i++) await kernel.send(id, { op: 'echo', i });
    await codeOf(kernel.send(id, { op: 'trap' }));
    const t0 = performance.now();
    const handled = await kernel.send(id, { op: 'state' });
    return { ms: performance.now() - t0, handled };
  } finally {
    await kernel.close();
  }
}

/** afterTrap three times: the median time, and the heaps it got (each checked by the caller). */
async function median3(
  options: Partial<KernelOptions>,
  n = JOURNAL,
): Promise<{ ms: number; handled: unknown }> {
  const runs: { ms: number; handled: unknown }[] = [];
  for (let i = 0; i < 3; i++) runs.push(await afterTrap(options, n));
  const bad = runs.find((r) => JSON.stringify(r.handled) !== JSON.stringify(runs[0]!.handled));
  if (bad) throw new Error(`recovery bench: the heaps differ between runs: ${JSON.stringify(bad.handled)}`);
  return { ms: percentiles(runs.map((r) => r.ms)).p50, handled: runs[0]!.handled };
}

export async function recoveryFigures(log: (s: string) => void): Promise<Figure[]> {
  const none = await median3({ checkpointEvery: null });
  const every = await median3({ checkpointEvery: CHECKPOINT_EVERY });
  const init = await median3({ recovery: 'init' });
  for (const [what, r, want] of [
    ['no checkpoint', none, JOURNAL + 1],
    ['checkpoints', every, JOURNAL + 1],
    ['init', init, 1],
  ] as const)
    if ((r.handled as { handled: number }).handled !== want)
      throw new Error(`recovery bench (${what}): the heap was not as expected: ${JSON.stringify(r.handled)}`);

  const kernel: Kernel = await KernelWithDefaults.open({
    home: tempHome(),
    cacheDir: TEST_CACHE_DIR,
    logLevel: 'silent',
    policy: { trust: devTrust() },
    checkpointEvery: null,
  });
  let take: ReturnType<typeof percentiles>;
  let call: ReturnType<typeof percentiles>;
  let bytes = 0;
  let memory = 0;
  try {
    const id = await kernel.spawn(await fixture('probe'), { grants: PROBE_GRANTS });
    const takes: number[] = [];
    const calls: number[] = [];
    for (let i = 0; i < TAKES; i++) {
      let t0 = performance.now();
      await kernel.send(id, { op: 'echo', i });
      calls.push((performance.now() - t0) * 1000);
      t0 = performance.now();
      bytes = (await kernel.checkpoint(id)).bytes;
      takes.push((performance.now() - t0) * 1000);
    }
    [take, call] = [percentiles(takes), percentiles(calls)];
    memory = kernel.inspect(id).stats.peakMemory;
  } finally {
    await kernel.close();
  }
  const lengths: Figure[] = [];
  for (const n of LENGTHS) {
    const a = await median3({ checkpointEvery: CHECKPOINT_EVERY }, n);
    const b = await median3({ checkpointEvery: null }, n);
    for (const r of [a, b])
      if ((r.handled as { handled: number }).handled !== n + 1)
        throw new Error(`recovery bench (${n}): the heap was not as expected: ${JSON.stringify(r.handled)}`);
    log(
      `recovery after ${n} invocations: ${a.ms.toFixed(0)} ms with checkpoints, ${b.ms.toFixed(0)} ms with none`,
    );
    lengths.push(
      figure(
        `recover a JS agent's heap after a trap, ${n} invocations journaled, a checkpoint every ${CHECKPOINT_EVERY}: its next message, answered`,
        a.ms,
        'ms',
        `the same with no checkpoint (all ${n} executed again)`,
        b.ms,
      ),
    );
  }
  log(
    `recovery after ${JOURNAL} invocations: ${every.ms.toFixed(0)} ms with checkpoints every ${CHECKPOINT_EVERY}, ${none.ms.toFixed(0)} ms with none, ${init.ms.toFixed(0)} ms from init (heap lost); checkpoint ${(take.p50 / 1000).toFixed(1)} ms p50, ${bytes} bytes`,
  );
  return [
    figure(
      `recover a JS agent's heap after a trap, ${JOURNAL} invocations journaled, a checkpoint every ${CHECKPOINT_EVERY}: its next message, answered`,
      every.ms,
      'ms',
      `the same with no checkpoint (all ${JOURNAL} executed again)`,
      none.ms,
    ),
    ...lengths,
    figure(
      `recover a JS agent's heap after a trap (checkpoint every ${CHECKPOINT_EVERY}), beside losing it`,
      every.ms,
      'ms',
      "starting afresh (recovery: 'init': the heap lost)",
      init.ms,
    ),
    figure(
      `take a checkpoint of a JS agent (kernel.checkpoint, on disk), p50 of ${TAKES}`,
      take.p50 / 1000,
      'ms',
      'a warm call of the same agent, p50',
      call.p50 / 1000,
    ),
    figure(
      'a checkpoint of a JS probe agent (memories and globals, gzipped)',
      bytes,
      'bytes',
      'its linear memory (peak)',
      memory,
    ),
  ];
}
