/**
 * Address space: how many agents one kernel process holds resident, with V8's wasm trap handler
 * (the default) and without it (`--disable-wasm-trap-handler`, memories bounded and checked in
 * code), and what the bounds checks cost. Each side runs in processes of its own
 * (bench/address-space-child.ts), since the flag is the process's.
 * - resident small wasm agents (echo.wat) up to 20,000, each then sent one message;
 * - resident QuickJS echo agents (three memories each) up to 5,000;
 * - bounds checks: a QuickJS skill's call and a compiled loop of memory loads and stores, each
 *   compiled twice in this process (as here, and with bounds checked in code as V8 does without
 *   the trap handler) and run in alternating rounds;
 * - the other way past the ceiling, more kernel processes: a bare round trip to another
 *   process (child_process IPC) beside the bare Atomics round trip an agent's call pays now.
 *
 * Alone: `node dist/bench/run.js address-space`.
 */
import { Buffer } from 'node:buffer';
import { execFile, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import binaryen from 'binaryen';
import { packageRoot } from '../kernel/base/paths.js';
import { sample } from '../testing/harness.js';
import { bareAtomicsRoundTrip, plainDir } from './baselines.js';
import { type Figure, figure, machine, percentiles, timeEach } from './measure.js';

const run = promisify(execFile);
const SMALL = 20_000;
const QUICKJS = 5_000;
const OFF = '--disable-wasm-trap-handler';

interface Resident {
  space: { capacity: number; boundBy: string };
  resident: number;
  refused: { code: string; message: string } | null;
  spawnMs: number;
  answered: number;
  rss: number;
  mappings: number;
}

async function child<T>(flags: string[], ...args: string[]): Promise<T> {
  const script = join(packageRoot(), 'dist', 'bench', 'address-space-child.js');
  const { stdout } = await run(process.execPath, [...flags, script, ...args], {
    timeout: 600_000,
    maxBuffer: 1 << 20,
  });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as T;
}

const resident = (flags: string[], what: 'small' | 'quickjs', n: number): Promise<Resident> =>
  child<Resident>(flags, String(n), what);

const LOOP = `(module (memory (export "m") 256 256)
  (func (export "run") (param $n i32) (result i32) (local $i i32) (local $a i32) (local $s i32)
    (loop $l
      (local.set $a (i32.and (i32.mul (local.get $i) (i32.const 2654435761)) (i32.const 0xfffffc)))
      (i32.store (local.get $a) (i32.add (i32.load (local.get $a)) (local.get $i)))
      (local.set $s (i32.add (local.get $s) (i32.load offset=4 (local.get $a))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (local.get $s)))`;

/** An empty custom section: other bytes, so V8 compiles the module again instead of reusing its code. */
const OTHER = Uint8Array.from([0, 2, 1, 0x78]);

/**
 * Each module compiled twice in this process: as V8 compiles it here, and with bounds checked
 * in code (V8's --wasm-enforce-bounds-checks, what it does for every memory without the trap
 * handler), so both run side by side.
 */
async function twice(
  files: Record<string, Uint8Array>,
): Promise<[Record<string, WebAssembly.Module>, Record<string, WebAssembly.Module>]> {
  const plain: Record<string, WebAssembly.Module> = {};
  const checked: Record<string, WebAssembly.Module> = {};
  for (const [name, bytes] of Object.entries(files)) plain[name] = await WebAssembly.compile(bytes);
  setFlagsFromString('--wasm-enforce-bounds-checks');
  try {
    for (const [name, bytes] of Object.entries(files))
      checked[name] = await WebAssembly.compile(Buffer.concat([bytes, OTHER]));
  } finally {
    setFlagsFromString('--no-wasm-enforce-bounds-checks');
  }
  return [plain, checked];
}

/** p50 ms of `a` and of `b`, in alternating rounds. */
async function alternating(rounds: number, a: () => unknown, b: () => unknown): Promise<[number, number]> {
  const xs: number[] = [];
  const ys: number[] = [];
  for (let i = 0; i < rounds; i++) {
    xs.push(...(await timeEach(1, i === 0 ? 3 : 0, a)));
    ys.push(...(await timeEach(1, i === 0 ? 3 : 0, b)));
  }
  return [percentiles(xs).p50 / 1000, percentiles(ys).p50 / 1000];
}

type Exports = Record<string, (...args: unknown[]) => unknown>;

export async function boundsChecks(log: (s: string) => void): Promise<Figure[]> {
  const m = binaryen.parseText(LOOP);
  const [loopPlain, loopChecked] = await twice({ loop: m.emitBinary() });
  m.dispose();
  const run = (x: WebAssembly.Module) => (new WebAssembly.Instance(x).exports as Exports).run!;
  const [lp, lc] = [run(loopPlain.loop!), run(loopChecked.loop!)];
  const [loopGuard, loopCheck] = await alternating(
    30,
    () => lp(5_000_000),
    () => lc(5_000_000),
  );
  const dir = await plainDir(readFileSync(await sample('text-stats')));
  const files = Object.fromEntries(
    readdirSync(dir)
      .filter((f) => f.endsWith('.wasm'))
      .map((f) => [f, readFileSync(join(dir, f))]),
  );
  const [plain, checked] = await twice(files);
  const glue = (await import(pathToFileURL(join(dir, 'component.mjs')).href)) as {
    instantiate(get: (n: string) => WebAssembly.Module, imports: object): Exports;
  };
  const imports = { 'agentos:kernel/log': { write: () => {} } };
  const a = glue.instantiate((n) => plain[n]!, imports);
  const b = glue.instantiate((n) => checked[n]!, imports);
  const args = JSON.stringify({ text: 'The quick brown fox jumps over the lazy dog. '.repeat(300) });
  const [skillGuard, skillCheck] = await alternating(
    60,
    () => a.invoke!('stats', args),
    () => b.invoke!('stats', args),
  );
  log(
    `bounds checks: loop ${loopCheck.toFixed(1)} ms against ${loopGuard.toFixed(1)}; QuickJS skill ${skillCheck.toFixed(2)} ms against ${skillGuard.toFixed(2)}`,
  );
  return [
    figure(
      'address space: a QuickJS skill call (text-stats over 13 KB), bounds checked in code (as without the trap handler), p50',
      skillCheck,
      'ms',
      'the same call with the trap handler (guard regions), same process',
      skillGuard,
    ),
    figure(
      'address space: a compiled loop of 5 M scattered memory loads and stores, bounds checked in code, p50',
      loopCheck,
      'ms',
      'the same loop with the trap handler, same process',
      loopGuard,
    ),
  ];
}

/** A bare round trip to a child process over Node's IPC channel, p50 µs. */
async function processRoundTrip(n: number): Promise<number> {
  const c = spawn(process.execPath, ['-e', "process.on('message', (m) => process.send(m))"], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const once = (): Promise<void> => new Promise((r) => c.once('message', () => r()));
  for (let i = 0; i < 200; i++) {
    const p = once();
    c.send(i);
    await p;
  }
  const xs: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const p = once();
    c.send(i);
    await p;
    xs.push((performance.now() - t) * 1000);
  }
  c.kill();
  return percentiles(xs).p50;
}

function residentFigures(label: string, one: string, on: Resident, off: Resident, goal?: string): Figure[] {
  return [
    figure(
      `address space: resident ${label} in one process without the trap handler (${OFF}), all answered`,
      off.answered,
      'agents',
      'the same with the trap handler (the default), until refused',
      on.answered,
      goal,
    ),
    figure(
      `address space: RSS per resident ${one} without the trap handler`,
      off.rss / off.resident / 1024,
      'KiB',
      'with the trap handler',
      on.rss / on.resident / 1024,
    ),
  ];
}

export async function addressSpaceFigures(log: (s: string) => void): Promise<Figure[]> {
  const figures: Figure[] = [];
  const say = (side: string, r: Resident): void =>
    log(
      `${side}: ${r.resident} resident (capacity ${r.space.capacity}, by ${r.space.boundBy}), ${r.answered} answered, ${r.refused ? `refused: ${r.refused.code}` : 'none refused'}, ${(r.spawnMs / 1000).toFixed(1)} s of spawns, ${(r.rss / 2 ** 20).toFixed(0)} MiB RSS, ${r.mappings} mappings`,
    );
  for (const [what, n, label, one, goal] of [
    ['small', SMALL, 'small wasm agents', 'small wasm agent', '≥ 20,000'],
    ['quickjs', QUICKJS, 'QuickJS agents', 'QuickJS agent', undefined],
  ] as const) {
    const on = await resident([], what, n);
    say(`${label}, trap handler`, on);
    const off = await resident([OFF], what, n);
    say(`${label}, no trap handler`, off);
    figures.push(...residentFigures(label, one, on, off, goal));
  }
  figures.push(...(await boundsChecks(log)));
  const atomics = (await bareAtomicsRoundTrip(5000)).p50Us;
  const ipc = await processRoundTrip(5000);
  log(`round trips: another process ${ipc.toFixed(1)} µs, Atomics ${atomics.toFixed(1)} µs`);
  figures.push(
    figure(
      'address space: a bare round trip to another process (child_process IPC), p50',
      ipc,
      'µs',
      'a bare Atomics round trip to a worker, p50',
      atomics,
    ),
  );
  return figures;
}

export function addressSpaceSection(figures: Figure[], table: (f: Figure[]) => string): string {
  const date = figures[0]?.date ?? new Date().toISOString().slice(0, 10);
  return `## Address space: resident agents per process, with and without the trap handler

Measured ${date} on ${machine()}.

${table(figures)}

How each is measured: each side in processes of its own (the flag is the process's), a kernel
with shipped defaults and durability relaxed. **Resident**: agents spawned by digest, 16 in
flight, until ${SMALL.toLocaleString('en-US')} (small wasm, echo.wat: one memory each) or
${QUICKJS.toLocaleString('en-US')} (the QuickJS echo sample: three memories each) or the first
refusal (\`AOS_E_CAPACITY\`), then every agent sent one message at once and its answer checked;
RSS at the end over the agents. **Bounds checks**: in the bench's own process, each module
compiled twice: as V8 compiles it with the trap handler (guard regions), and with V8's
\`--wasm-enforce-bounds-checks\` set while it compiles (an explicit check on every access, what V8
does for every memory without the trap handler; in a process without it the two sides measure
the same). The text-stats skill (QuickJS, transpiled by jco, not metered) is called 60 times on
each side in turn, a compiled loop of 5 M loads and stores at scattered addresses in a 16 MiB
memory 30 times; p50 of each. Side by side in one process, since this machine's speed varies
by 2× from one process to the next. **Round trips**: a child process that echoes each
message over Node's IPC channel, 5,000 after 200, beside the bare Atomics round trip the
spine's baselines use.

Why: with the trap handler V8 reserves 10 GiB of address space per memory (guard regions), so
a process's 128 TiB hold about 12,000 once V8's own mappings fragment it; without it a memory
reserves its declared maximum (the loader declares at most 1 GiB) and takes two of the
process's \`vm.max_map_count\` mappings (65,530 by default; each resident agent takes about 2.2
with its share of the heap), which then binds near 24,000. The kernel counts the memories alive
across its workers and refuses past the capacity with \`AOS_E_CAPACITY\` instead of letting V8
fail (or, past the map count, abort the process).

The pick, by these numbers: the trap handler stays on by default (bounds checks cost every
memory-heavy call, a QuickJS skill's included), idle agents go dormant (no memory at all; the
Registered agents section), and a process that must hold more agents resident than the address
space allows runs Node with \`--disable-wasm-trap-handler\` (and a higher \`vm.max_map_count\` for
more still). More kernel processes were not built: a call would cross a process, which costs more
than the thread hop, and lose the shared memory the blocking hostcalls wait on.
`;
}
