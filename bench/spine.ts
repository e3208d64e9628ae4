/**
 * The spine's benchmarks: load (first and cached), spawn, trivial invocation end to end, and
 * hostcall round trips from a worker — each beside its raw baseline, measured in this run.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { transpile } from '@bytecodealliance/jco';
import { Kernel } from '../index.js';
import { Loader, TRANSPILE_OPTIONS } from '../kernel/loader/loader.js';
import { fixture, sample, tempHome } from '../testing/harness.js';
import { devTrust } from '../toolchain/dev-key.js';
import { bareAtomicsRoundTrip, bareInstance, plainDir } from './baselines.js';
import { type Figure, figure, percentiles, timeEach } from './measure.js';

const median = (xs: number[]): number => percentiles(xs).p50;

async function ms(f: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await f();
  return performance.now() - t0;
}

const message = (body: string) => ({ id: 1n, kind: 'text', sender: undefined, body, sentAt: 0n });

export async function loadFigures(log: (s: string) => void): Promise<Figure[]> {
  return [
    ...(await loads(
      log,
      await fixture('echo-sm'),
      'a 12 MB JS component (SpiderMonkey)',
      'the same component',
    )),
    ...(await loads(
      log,
      await sample('echo'),
      'a 1.6 MB JS component (QuickJS)',
      'the same QuickJS component',
    )),
  ];
}

/** First and cached loads of one component, median of 3, beside jco + compile alone. */
async function loads(log: (s: string) => void, path: string, what: string, same: string): Promise<Figure[]> {
  const bytes = readFileSync(path);
  const first: number[] = [];
  const raw: number[] = [];
  const cached: number[] = [];
  const rawCached: number[] = [];
  for (let i = 0; i < 3; i++) {
    const cacheDir = tempHome('agentos-bench-cache-');
    first.push(
      await ms(async () => {
        const loader = new Loader(tempHome(), cacheDir);
        await loader.load(await loader.inspect(bytes, 'echo'), bytes);
      }),
    );
    raw.push(
      await ms(async () => {
        const out = await transpile(bytes, { ...TRANSPILE_OPTIONS });
        for (const [name, b] of Object.entries(out.files))
          if (name.endsWith('.wasm')) await WebAssembly.compile(b);
      }),
    );
    cached.push(
      await ms(async () => {
        const loader = new Loader(tempHome(), cacheDir);
        await loader.load(await loader.inspect(bytes, 'echo'), bytes);
      }),
    );
    const dir = join(cacheDir, readdirSync(cacheDir).find((d) => d.includes('-jco'))!);
    rawCached.push(
      await ms(async () => {
        for (const f of readdirSync(dir).filter((n) => n.endsWith('.wasm')))
          await WebAssembly.compile(readFileSync(join(dir, f)));
      }),
    );
  }
  log(
    `load ${what}: first ${median(first).toFixed(0)} ms (raw ${median(raw).toFixed(0)}), cached ${median(cached).toFixed(1)} ms (raw ${median(rawCached).toFixed(1)})`,
  );
  return [
    figure(
      `first load of ${what} (verify + transpile + meter + cache + compile)`,
      median(first),
      'ms',
      'jco transpile + WebAssembly.compile, no kernel',
      median(raw),
    ),
    figure(
      `cached load of ${same} (verify + cached glue + compile)`,
      median(cached),
      'ms',
      'WebAssembly.compile of the cached core modules',
      median(rawCached),
    ),
  ];
}

export async function kernelFigures(log: (s: string) => void): Promise<Figure[]> {
  const cacheDir = tempHome('agentos-bench-cache-');
  const kernel = await Kernel.open({
    home: tempHome(),
    cacheDir,
    logLevel: 'silent',
    policy: { trust: devTrust() },
  });
  const figures: Figure[] = [];
  try {
    const smPath = await fixture('echo-sm');
    const qjsPath = await sample('echo');
    const echoWat = await fixture('echo-wat');
    const dirs = new Map<string, string>();
    for (const [what, path] of [
      ['a 12 MB JS agent (SpiderMonkey)', smPath],
      ['a 1.6 MB JS agent (QuickJS)', qjsPath],
    ] as const) {
      // Warm the transpile cache, then measure spawns.
      await kernel.spawn(path, { grants: ['log'] });
      const spawns: number[] = [];
      for (let i = 0; i < 7; i++) spawns.push(await ms(() => kernel.spawn(path, { grants: ['log'] })));
      const dir = await plainDir(readFileSync(path));
      dirs.set(path, dir);
      const bare = await bareInstance(dir);
      const bareSpawn = await timeEach(7, 2, () => bare.instantiate().init!('{}'));
      figures.push(
        figure(
          `spawn ${what} (verify, link, instantiate in a worker, init)`,
          median(spawns),
          'ms',
          'bare jco instantiate + init on the main thread',
          percentiles(bareSpawn).p50 / 1000,
        ),
      );
      log(
        `spawn ${what}: ${median(spawns).toFixed(1)} ms (bare ${(percentiles(bareSpawn).p50 / 1000).toFixed(1)} ms)`,
      );
    }
    await kernel.spawn(echoWat);

    // The same invocations on a kernel that answers when the handler returns (durability
    // relaxed), beside the default one that answers once the outcome is on disk.
    const relaxed = await Kernel.open({
      home: tempHome(),
      cacheDir,
      logLevel: 'silent',
      policy: { trust: devTrust() },
      durability: 'relaxed',
    });
    try {
      for (const [label, path, grants, glueDir] of [
        ['JS (QuickJS) echo', qjsPath, ['log'], dirs.get(qjsPath)!],
        ['JS (SpiderMonkey) echo', smPath, ['log'], dirs.get(smPath)!],
        ['hand-written wasm echo', echoWat, [], await plainDir(readFileSync(echoWat))],
      ] as const) {
        const ids = [
          await kernel.spawn(path, { grants: [...grants] }),
          await relaxed.spawn(path, { grants: [...grants] }),
        ];
        const b = await bareInstance(glueDir);
        b.exports.init!('{}');
        // Interleaved rounds, so every side sees the same machine (its wake-up latency drifts).
        const runs: number[][] = [[], []];
        const bare: number[] = [];
        const hops: number[] = [];
        for (let round = 0; round < 6; round++) {
          for (const [i, k] of [kernel, relaxed].entries())
            runs[i]!.push(...(await timeEach(500, 100, () => k.send(ids[i]!, { text: 'hi' }))));
          bare.push(...(await timeEach(500, 100, () => b.exports.handle!(message('{"text":"hi"}')))));
          hops.push((await bareAtomicsRoundTrip(5000)).p50Us);
        }
        const hop = median(hops);
        const bareRuns = percentiles(bare);
        for (const [i, mode] of ['strict', 'relaxed'].entries()) {
          const kernelRuns = percentiles(runs[i]!);
          log(
            `invoke ${label}, durability ${mode}: kernel p50 ${kernelRuns.p50.toFixed(1)} p99 ${kernelRuns.p99.toFixed(1)} µs; bare p50 ${bareRuns.p50.toFixed(1)} p99 ${bareRuns.p99.toFixed(1)} µs`,
          );
          for (const q of ['p50', 'p99'] as const)
            figures.push(
              figure(
                `trivial invocation end to end, ${q} (${label}), durability ${mode}`,
                kernelRuns[q],
                'µs',
                `bare jco call on the main thread, ${q}`,
                bareRuns[q],
                mode === 'relaxed' ? '≤ 1.5×' : undefined,
              ),
            );
        }
        // What isolation must pay at least: the call itself and one thread hop there and back.
        figures.push(
          figure(
            `trivial invocation end to end, p50 (${label}), durability relaxed, against a bare jco call + a bare Atomics round trip`,
            percentiles(runs[1]!).p50,
            'µs',
            'bare jco call p50 + bare Atomics round trip p50, this run',
            bareRuns.p50 + hop,
            '≤ 1.3×',
          ),
        );
      }
    } finally {
      await relaxed.close();
    }

    const loop = await kernel.spawn(await fixture('hostcall-loop'), { grants: ['log', 'working-memory'] });
    const N = 20000;
    const perCall = async (op: string): Promise<number> => {
      const t0 = await ms(() => kernel.send(loop, `${op}0`));
      const tn = await ms(() => kernel.send(loop, `${op}${N}`));
      return ((tn - t0) * 1000) / N;
    };
    await perCall('L');
    await perCall('G');
    // Interleaved rounds: this machine's thread wake-up latency drifts between runs.
    const logs: number[] = [];
    const gets: number[] = [];
    const bareMeans: number[] = [];
    const bareP50: number[] = [];
    const bareP99: number[] = [];
    for (let i = 0; i < 7; i++) {
      logs.push(await perCall('L'));
      gets.push(await perCall('G'));
      const b = await bareAtomicsRoundTrip(N);
      bareMeans.push(b.meanUs);
      bareP50.push(b.p50Us);
      bareP99.push(b.p99Us);
    }
    const logUs = median(logs);
    const getUs = median(gets);
    const atomics = { meanUs: median(bareMeans), p50Us: median(bareP50), p99Us: median(bareP99) };
    // What jco's glue alone costs per import call: the same component, imports answered locally.
    const loopBytes = readFileSync(await fixture('hostcall-loop'));
    const local = await bareInstance(await plainDir(loopBytes));
    local.exports.init!('{}');
    const glueUs = median(
      [0, 1, 2].map(() => {
        const t0 = performance.now();
        local.exports.handle!(message('"L0"'));
        const a = performance.now() - t0;
        const t1 = performance.now();
        local.exports.handle!(message(`"L${N * 5}"`));
        return ((performance.now() - t1 - a) * 1000) / (N * 5);
      }),
    );
    log(
      `hostcall from a worker: log.write ${logUs.toFixed(2)} µs, working-memory.get ${getUs.toFixed(2)} µs; bare Atomics ${atomics.meanUs.toFixed(2)} µs (p50 ${atomics.p50Us.toFixed(2)}, p99 ${atomics.p99Us.toFixed(2)}); jco glue alone ${glueUs.toFixed(2)} µs`,
    );
    figures.push(
      figure(
        'hostcall from a worker: log.write, answered in the worker and posted (mean of 20,000)',
        logUs,
        'µs',
        'bare SharedArrayBuffer/Atomics round trip (mean)',
        atomics.meanUs,
      ),
      figure(
        'hostcall round trip from a worker: working-memory.get (mean of 20,000)',
        getUs,
        'µs',
        'bare SharedArrayBuffer/Atomics round trip (mean)',
        atomics.meanUs,
        '≤ 1.3×',
      ),
      figure(
        'the jco glue alone: one import call answered locally, no kernel, no thread hop (part of both rows above)',
        glueUs,
        'µs',
        'bare SharedArrayBuffer/Atomics round trip (mean)',
        atomics.meanUs,
      ),
    );
  } finally {
    await kernel.close();
  }
  return figures;
}
