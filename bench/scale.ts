/**
 * Scale: what the kernel's own costs do as agents multiply, and what each engine's agent costs.
 * - spawn rate of a small wasm agent, of a warm QuickJS agent and of a warm SpiderMonkey one;
 * - RSS per resident agent, QuickJS beside SpiderMonkey (the same echo source);
 * - dispatch: N small wasm agents sent one message each all at once, at 500 / 5,000 / 10,000,
 *   each beside the figure at 500 in the same run (goal: 10,000 within 1.5× of 500).
 *
 * Alone: `node dist/bench/run.js scale` (AGENTOS_BENCH_SCALE_MAX sets a smaller top size).
 */
import { env, memoryUsage } from 'node:process';
import type { Kernel } from '../index.js';
import { fixture, sample, tempHome } from '../testing/harness.js';
import { openBenchKernel } from './kernel.js';
import { collector, type Figure, figure, machine } from './measure.js';

const TOP = Number(env.AGENTOS_BENCH_SCALE_MAX ?? 10_000);
const SIZES = [500, 5_000, 10_000].filter((n) => n <= TOP);
const SPAWNS = 2_000;
const JS_SPAWNS = 200;
const RESIDENT = 300;
const IN_FLIGHT = 16;
const PAUSED = 40;
/** Spawn rate of the small wasm agent before this bench's changes (2026-12-03, this machine, 16 in flight). */
const SPAWN_BEFORE = 442;
/** Dispatch throughput before the run queue became a heap (2026-12-03, this machine). */
/** A new SpiderMonkey component's first spawn as the issue found it (9–34 s): its low end, ms. */
const SM_FIRST_BEFORE = 9_000;
const DISPATCH_BEFORE: Record<number, number> = { 500: 1290, 5000: 365 };

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function rss(gc: () => void): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc();
    await pause(100);
  }
  return memoryUsage().rss;
}

/** A component's first spawn on a kernel with an empty cache (transpile, meter, compile), ms. */
async function firstSpawn(wasm: string): Promise<number> {
  const kernel = await openBenchKernel({ cacheDir: tempHome('agentos-bench-cache-') });
  try {
    const t0 = performance.now();
    await kernel.spawn(wasm, { grants: ['log'] });
    return performance.now() - t0;
  } finally {
    await kernel.close();
  }
}

async function firstLoads(log: (s: string) => void): Promise<Figure[]> {
  const q = await firstSpawn(await sample('echo'));
  const s = await firstSpawn(await fixture('echo-sm'));
  log(`first spawn of a new component: QuickJS ${q.toFixed(0)} ms, SpiderMonkey ${s.toFixed(0)} ms`);
  const sm = 'a new SpiderMonkey component';
  return [
    figure('scale: first spawn of a new QuickJS component', q, 'ms', sm, s, '≤ 3,000 ms'),
    figure(
      'scale: first spawn of a new SpiderMonkey component',
      s,
      'ms',
      'the issue (9–34 s): low end',
      SM_FIRST_BEFORE,
      '≤ 6,000 ms',
    ),
  ];
}

/** `n` spawns of `wasm`, `IN_FLIGHT` at a time; spawns/s. */
async function spawnRate(kernel: Kernel, wasm: string, n: number, grants: string[], ids: string[] = []) {
  let started = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (started < n) {
        started++;
        ids.push(await kernel.spawn(wasm, { grants }));
      }
    }),
  );
  return (n / (performance.now() - t0)) * 1000;
}

async function spawns(log: (s: string) => void): Promise<Figure[]> {
  const kernel = await openBenchKernel();
  try {
    const wasm = await fixture('echo-wat');
    const qjs = await sample('echo');
    const sm = await fixture('echo-sm');
    // Warm: one spawn of each by path; then spawns by digest (no file read, no hash).
    const ref = async (w: string, grants: string[]): Promise<string> =>
      `sha256:${kernel.inspect(await kernel.spawn(w, { grants })).digest}`;
    const [wasmRef, qjsRef, smRef] = [await ref(wasm, []), await ref(qjs, ['log']), await ref(sm, ['log'])];
    const byPath = await spawnRate(kernel, wasm, SPAWNS, []);
    const small = await spawnRate(kernel, wasmRef, SPAWNS, []);
    const q = await spawnRate(kernel, qjsRef, JS_SPAWNS, ['log']);
    const s = await spawnRate(kernel, smRef, JS_SPAWNS, ['log']);
    log(
      `spawns/s: small wasm ${small.toFixed(0)} by digest, ${byPath.toFixed(0)} by path; QuickJS ${q.toFixed(0)}, SpiderMonkey ${s.toFixed(0)}`,
    );
    const before = 'the same by path, before (2026-12-03)';
    return [
      figure(
        'scale: spawn rate, small wasm agent by digest',
        small,
        'spawns/s',
        before,
        SPAWN_BEFORE,
        '≥ 1,000/s',
      ),
      figure('scale: spawn rate, small wasm agent by path', byPath, 'spawns/s', before, SPAWN_BEFORE),
      figure(
        'scale: spawn rate, warm QuickJS agent',
        q,
        'spawns/s',
        'a warm SpiderMonkey agent',
        s,
        '≥ 200/s',
      ),
    ];
  } finally {
    await kernel.close();
  }
}

/** p50 of PAUSED spawns of `wasm` by digest, each after a pause (ms), on a kernel with `spares`. */
async function pausedSpawn(wasm: string, spares: number): Promise<number> {
  const kernel = await openBenchKernel({ spares });
  try {
    const ref = `sha256:${kernel.inspect(await kernel.spawn(wasm, { grants: ['log'] })).digest}`;
    const times: number[] = [];
    for (let i = 0; i < PAUSED; i++) {
      await pause(30);
      const t0 = performance.now();
      await kernel.spawn(ref, { grants: ['log'] });
      times.push(performance.now() - t0);
    }
    return times.sort((a, b) => a - b)[times.length >> 1]!;
  } finally {
    await kernel.close();
  }
}

async function pausedSpawns(log: (s: string) => void): Promise<Figure[]> {
  const out: Figure[] = [];
  for (const [name, wasm] of [
    ['QuickJS', await sample('echo')],
    ['SpiderMonkey', await fixture('echo-sm')],
  ] as const) {
    const without = await pausedSpawn(wasm, 0);
    const withSpare = await pausedSpawn(wasm, 1);
    log(
      `spawn after a pause, ${name}: ${withSpare.toFixed(2)} ms with spares, ${without.toFixed(2)} without`,
    );
    out.push(
      figure(
        `scale: spawn after a pause, warm ${name} agent, p50`,
        withSpare,
        'ms',
        'the same with spares: 0',
        without,
      ),
    );
  }
  return out;
}

/** RSS added per resident echo agent of one engine, on a kernel of its own. */
async function residentCost(wasm: string, gc: () => void): Promise<number> {
  const kernel = await openBenchKernel();
  try {
    await kernel.send(await kernel.spawn(wasm, { grants: ['log'] }), 'warm');
    const before = await rss(gc);
    const ids: string[] = [];
    await spawnRate(kernel, wasm, RESIDENT, ['log'], ids);
    for (const id of ids) await kernel.send(id, 'x');
    return ((await rss(gc)) - before) / RESIDENT;
  } finally {
    await kernel.close();
  }
}

async function residents(log: (s: string) => void): Promise<Figure[]> {
  const gc = collector();
  const q = await residentCost(await sample('echo'), gc);
  const s = await residentCost(await fixture('echo-sm'), gc);
  log(
    `RSS per resident echo agent: QuickJS ${(q / 1024).toFixed(0)} KiB, SpiderMonkey ${(s / 1024).toFixed(0)} KiB`,
  );
  return [
    figure(
      'scale: RSS per resident QuickJS agent',
      q / 1024,
      'KiB',
      'a resident SpiderMonkey agent',
      s / 1024,
    ),
  ];
}

async function dispatch(log: (s: string) => void): Promise<Figure[]> {
  const kernel = await openBenchKernel();
  try {
    const wasm = await fixture('echo-wat');
    const ids: string[] = [];
    const at = new Map<number, number>();
    for (const n of SIZES) {
      await spawnRate(kernel, wasm, n - ids.length, [], ids);
      let best = 0;
      for (let round = 0; round < 3; round++) {
        const t0 = performance.now();
        await Promise.all(ids.map((id) => kernel.send(id, { n: round })));
        best = Math.max(best, (n / (performance.now() - t0)) * 1000);
      }
      at.set(n, best);
      log(`dispatch: ${n} agents, one message each at once: ${best.toFixed(0)} msg/s`);
    }
    const base = at.get(SIZES[0]!)!;
    return SIZES.map((n) =>
      n === SIZES[0]
        ? figure(
            `scale: dispatch, ${n} agents`,
            base,
            'msg/s',
            'the same before (2026-12-03)',
            DISPATCH_BEFORE[n]!,
          )
        : figure(
            `scale: dispatch, ${n} agents`,
            at.get(n)!,
            'msg/s',
            `${SIZES[0]} agents, same run`,
            base,
            n === 10_000 ? '≥ 1/1.5 of 500' : undefined,
          ),
    );
  } finally {
    await kernel.close();
  }
}

export async function scaleFigures(log: (s: string) => void): Promise<Figure[]> {
  return [
    ...(await firstLoads(log)),
    ...(await spawns(log)),
    ...(await pausedSpawns(log)),
    ...(await residents(log)),
    ...(await dispatch(log)),
  ];
}

export function scaleSection(figures: Figure[], table: (f: Figure[]) => string): string {
  const date = figures[0]?.date ?? new Date().toISOString().slice(0, 10);
  return `## Scale: spawns, resident cost per engine, dispatch at ${SIZES.map((n) => n.toLocaleString('en-US')).join(' / ')} agents

Measured ${date} on ${machine()}.

${table(figures)}

How each is measured: kernels on fresh data dirs, durability relaxed. **First spawn**: a kernel
with an empty cache dir spawns the echo sample (QuickJS), then another the same source built with
SpiderMonkey: transpile, fuel pass, compile and the first instance, timed until spawn returns.
The rest use the shared metered-module cache (every component compiled before anything is
timed). **Spawns**: ${SPAWNS} spawns of the hand-written echo (echo.wat, a small wasm agent) by path,
${SPAWNS} by digest (\`sha256:<hex>\`), then ${JS_SPAWNS} of the echo sample built with QuickJS and
${JS_SPAWNS} of the same source built with SpiderMonkey, by digest, ${IN_FLIGHT} in flight, after one
warm spawn of each. **Spawn after a pause**: per engine, ${PAUSED} spawns by digest one at a time, each
after 30 ms idle, p50, on a kernel with one spare instance per worker (\`spares: 1\`, the default:
the worker made it in the pause) beside one with none. **Resident cost**: per engine, a kernel of its own; its RSS after three full collections,
before and after ${RESIDENT} echo agents are spawned and sent a message each (RSS covers the worker
threads, where the instances live), divided by ${RESIDENT}. **Dispatch**: one kernel; small wasm agents
are spawned up to each size, then every agent is sent one message at once, three rounds, the
best kept (msg/s until all are answered). The figure at 500 is the baseline of the larger sizes.

What sets the floors. *First spawn*: jco's transpile (~0.5–0.8 s) and the fuel pass over the
binary (~0.15 s for QuickJS's 1.3 MB core, ~0.6–0.9 s for SpiderMonkey's 12 MB one; binaryen.js
took 1.5 s and 6.6 s for the same before 2026-12-04), then compiling and the first instance.
*Warm QuickJS spawns* (goal ≥ 200/s): the instance itself. Most of a warm QuickJS spawn is in
the workers: \`WebAssembly.Instance\` for its 13 core modules (three memories), init, and
collections. Until 2026-12-08 a third of it was three TypeErrors per instantiation: jco's glue
tries \`WebAssembly.promising\` (absent on Node 20) in a \`try\`, and V8 renders each "is not a
function" message by parsing the whole instantiate function again (~1 ms each); the glue is now
patched to look JSPI up once (kernel/loader/glue-patch.ts). Spare instances made between
commands move instantiation out of a spawn that follows idle time (*spawn after a pause*); in a
back-to-back burst they help only as far as the workers have gaps between commands.
`;
}
