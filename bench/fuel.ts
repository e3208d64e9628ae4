/**
 * The fuel benchmarks: the same work, metered and not, side by side in one run, on the main
 * thread (no kernel, no worker: only the fuel pass's cost is measured).
 * - a JS compute skill: text-stats counting words in a 13 KB text, built with QuickJS (the
 *   default engine) and with SpiderMonkey;
 * - compiled compute: a xorshift loop (a tight loop, the worst case: one check per iteration)
 *   and recursive fib (a check per call);
 * - the one-time cost of metering the 12 MB SpiderMonkey core module.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import binaryen from 'binaryen';
import { instrumentFuel } from '../kernel/fuel/pass.js';
import { inspectComponent, Loader } from '../kernel/loader/loader.js';
import { Meter } from '../kernel/worker/meter.js';
import { fixture, sample, tempHome } from '../testing/harness.js';
import { plainDir } from './baselines.js';
import { type Figure, figure, percentiles, timeEach } from './measure.js';

type Exports = Record<string, (...args: unknown[]) => unknown>;
interface Glue {
  instantiate(
    get: (n: string) => WebAssembly.Module,
    imports: Record<string, Record<string, unknown>>,
    instantiateCore?: (m: WebAssembly.Module, i?: WebAssembly.Imports) => WebAssembly.Instance,
  ): Exports;
}

const GOAL = '≤ 1.10×';
const UNLIMITED = {
  fuel: Number.MAX_SAFE_INTEGER,
  kind: 'invocation' as const,
  tick: 1_000_000,
  deadline: null,
};

async function glueFrom(dir: string): Promise<{ glue: Glue; modules: Record<string, WebAssembly.Module> }> {
  const meta = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8')) as { modules: string[] };
  const modules: Record<string, WebAssembly.Module> = {};
  for (const name of meta.modules) modules[name] = await WebAssembly.compile(readFileSync(join(dir, name)));
  return { glue: (await import(pathToFileURL(join(dir, 'component.mjs')).href)) as Glue, modules };
}

/** Interleaved rounds of both sides, so both see the same machine; median µs of each. */
async function sideBySide(
  rounds: number,
  n: number,
  a: () => unknown,
  b: () => unknown,
): Promise<[number, number]> {
  const xs: number[] = [];
  const ys: number[] = [];
  for (let r = 0; r < rounds; r++) {
    xs.push(...(await timeEach(n, 1, a)));
    ys.push(...(await timeEach(n, 1, b)));
  }
  return [percentiles(xs).p50, percentiles(ys).p50];
}

async function jsSkill(log: (s: string) => void, engine: 'QuickJS' | 'SpiderMonkey'): Promise<Figure> {
  const bytes = readFileSync(
    engine === 'QuickJS' ? await sample('text-stats') : await fixture('text-stats-sm'),
  );
  const info = await inspectComponent(bytes, 'text-stats');
  const metered = await glueFrom(
    await new Loader(tempHome(), tempHome('agentos-bench-cache-')).transpiled(info.digest, bytes),
  );
  const plainPath = await plainDir(bytes);
  const plainGlue = (await import(pathToFileURL(join(plainPath, 'component.mjs')).href)) as Glue;
  const plainModules: Record<string, WebAssembly.Module> = {};
  for (const name of Object.keys(metered.modules))
    plainModules[name] = await WebAssembly.compile(readFileSync(join(plainPath, name)));
  const meter = new Meter(1 << 30);
  const imports = { 'agentos:kernel/log': { write: () => {} } };
  // QuickJS runs code as it is instantiated: that too is metered.
  meter.begin(UNLIMITED);
  const m = metered.glue.instantiate((n) => metered.modules[n]!, imports, meter.instantiateCore);
  meter.end();
  const p = plainGlue.instantiate((n) => plainModules[n]!, imports);
  const args = JSON.stringify({ text: 'The quick brown fox jumps over the lazy dog. '.repeat(300) });
  let fuel = 0;
  const [meteredUs, plainUs] = await sideBySide(
    5,
    6,
    () => {
      meter.begin(UNLIMITED);
      m.invoke!('stats', args);
      fuel = meter.end();
    },
    () => p.invoke!('stats', args),
  );
  log(
    `JS skill (${engine}): metered ${(meteredUs / 1000).toFixed(1)} ms, plain ${(plainUs / 1000).toFixed(1)} ms, ${fuel} fuel`,
  );
  return figure(
    `JS compute skill (text-stats over 13 KB, ${engine}), metered; ${(fuel / 1e6).toFixed(0)} M fuel`,
    meteredUs / 1000,
    'ms',
    'the same call, not metered',
    plainUs / 1000,
    GOAL,
  );
}

const COMPUTE = `(module
  (func (export "xorshift") (param $n i32) (result i64)
    (local $x i64) (local $i i32)
    (local.set $x (i64.const 88172645463325252))
    (loop $l
      (local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 13))))
      (local.set $x (i64.xor (local.get $x) (i64.shr_u (local.get $x) (i64.const 7))))
      (local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 17))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (local.get $x))
  (func $fib (export "fib") (param $n i32) (result i32)
    (if (result i32) (i32.lt_u (local.get $n) (i32.const 2))
      (then (local.get $n))
      (else (i32.add (call $fib (i32.sub (local.get $n) (i32.const 1)))
                     (call $fib (i32.sub (local.get $n) (i32.const 2))))))))`;

function compiled(log: (s: string) => void): Promise<Figure[]> {
  const mod = binaryen.parseText(COMPUTE);
  const plainBytes = mod.emitBinary();
  mod.dispose();
  const plain = new WebAssembly.Instance(new WebAssembly.Module(plainBytes)).exports as Exports;
  const meter = new Meter(1 << 30);
  const metered = meter.instantiateCore(new WebAssembly.Module(instrumentFuel(plainBytes).bytes))
    .exports as Exports;
  const run = async (name: string, label: string, arg: number): Promise<Figure> => {
    let fuel = 0;
    const [m, p] = await sideBySide(
      5,
      5,
      () => {
        meter.begin(UNLIMITED);
        metered[name]!(arg);
        fuel = meter.end();
      },
      () => plain[name]!(arg),
    );
    log(`${label}: metered ${(m / 1000).toFixed(1)} ms, plain ${(p / 1000).toFixed(1)} ms, ${fuel} fuel`);
    return figure(
      `${label}, metered; ${(fuel / 1e6).toFixed(0)} M fuel`,
      m / 1000,
      'ms',
      'the same call, not metered',
      p / 1000,
      GOAL,
    );
  };
  return (async () => [
    await run(
      'xorshift',
      'compiled compute: xorshift loop, 20 M iterations (tight loop, worst case)',
      20_000_000,
    ),
    await run('fib', 'compiled compute: recursive fib(30)', 30),
  ])();
}

async function meteringCost(log: (s: string) => void): Promise<Figure> {
  const bytes = readFileSync(await fixture('echo-sm'));
  const dir = await plainDir(bytes);
  const core = readFileSync(join(dir, 'component.core.wasm'));
  const t0 = performance.now();
  instrumentFuel(core, 'echo core');
  const meterMs = performance.now() - t0;
  const t1 = performance.now();
  await WebAssembly.compile(core);
  const compileMs = performance.now() - t1;
  log(`metering the 12 MB core: ${meterMs.toFixed(0)} ms (compile ${compileMs.toFixed(0)} ms)`);
  return figure(
    'metering a 12 MB SpiderMonkey core module, once per component (cached by digest)',
    meterMs,
    'ms',
    'compiling the same module',
    compileMs,
  );
}

export async function fuelFigures(log: (s: string) => void): Promise<Figure[]> {
  return [
    await jsSkill(log, 'QuickJS'),
    await jsSkill(log, 'SpiderMonkey'),
    ...(await compiled(log)),
    await meteringCost(log),
  ];
}
