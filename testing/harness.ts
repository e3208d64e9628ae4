/**
 * The shared test harness: real components built by the real toolchain (cached by source
 * digest between runs and test files), a kernel on a fresh temporary data dir, and helpers.
 *
 * @example
 * const kernel = await openKernel();
 * const id = await kernel.spawn(await fixture('probe'), { grants: ['log'] });
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';
import { Kernel, type KernelOptions } from '../index.js';
import type { SpawnOptions } from '../kernel/api.js';
import { WIT_INTERFACES } from '../kernel/base/abi.js';
import { writeFileAtomic } from '../kernel/base/atomic-write.js';
import { packageRoot, witDir } from '../kernel/base/paths.js';
import { WorkerPool, type WorkerSlot } from '../kernel/exec/pool.js';
import { workerPoolOf } from '../kernel/kernel.js';
import { Loader, sha256 } from '../kernel/loader/loader.js';
import { type Manifest, withManifest } from '../kernel/signing/manifest.js';
import { signComponent } from '../kernel/signing/signature.js';
import { buildComponent } from '../toolchain/build.js';
import { buildSamples, samplePath } from '../toolchain/build-samples.js';
import { DEV_PUBLISHER, devKey, devTrust } from '../toolchain/dev-key.js';
import type { Engine } from '../toolchain/engines.js';
import { buildWatComponent, type WatOptions } from '../toolchain/wat.js';
import { wat } from './metered.js';

const FIXTURES_DIR = join(packageRoot(), 'testing', 'fixtures');

export type FixtureSpec = (
  | { ts: string; world: 'agent' | 'skill' /** Default spidermonkey. */; engine?: Engine }
  | ({
      wat: string /** Parsed by binaryen (legacy exception handling), not wasm-tools. */;
      parser?: 'binaryen';
    } & WatOptions)
) & {
  /** The kernel refuses it at load, so buildAll builds it but does not transpile it. */
  refused?: true;
  /** Built when first asked for, not by buildAll (the benchmarks use it, no test does). */
  lazy?: true;
};

export const FIXTURES = {
  probe: { ts: 'probe.ts', world: 'agent' },
  'needs-semantic-memory': { ts: 'needs-semantic-memory.ts', world: 'agent' },
  messenger: { ts: 'messenger.ts', world: 'agent' },
  watcher: { ts: 'watcher.ts', world: 'agent' },
  pinger: { ts: 'pinger.ts', world: 'agent' },
  tally: { ts: 'tally.ts', world: 'agent' },
  thrower: { ts: 'thrower.ts', world: 'agent' },
  'thrower-skill': { ts: 'thrower-skill.ts', world: 'skill' },
  // The same guests on QuickJS (the TS fixtures above are built with SpiderMonkey).
  'thrower-qjs': { ts: 'thrower.ts', world: 'agent', engine: 'quickjs' },
  'thrower-skill-qjs': { ts: 'thrower-skill.ts', world: 'skill', engine: 'quickjs' },
  'tally-qjs': { ts: 'tally.ts', world: 'agent', engine: 'quickjs' },
  // The echo sample built with SpiderMonkey, beside the sample itself (QuickJS, the default).
  'echo-sm': { ts: '../../components/echo/index.ts', world: 'agent', engine: 'spidermonkey', lazy: true },
  'text-stats-sm': {
    ts: '../../components/text-stats/index.ts',
    world: 'skill',
    engine: 'spidermonkey',
    lazy: true,
  },
  'echo-wat': { wat: 'echo.wat', world: 'agent' },
  'trap-wat': { wat: 'trap.wat', world: 'agent' },
  'limits-wat': { wat: 'limits.wat', world: 'agent' },
  'start-loop': { wat: 'start-loop.wat', world: 'agent' },
  'big-wat': { wat: 'big.wat', world: 'agent' },
  'sender-wat': { wat: 'sender.wat', world: 'agent', imports: ['ipc'] },
  'hostcall-loop': { wat: 'hostcall-loop.wat', world: 'agent', imports: ['log', 'working-memory'] },
  'bulk-fill': { wat: 'bulk-fill.wat', world: 'agent' },
  'catch-all': { wat: 'catch-all.wat', world: 'agent', parser: 'binaryen', refused: true },
  'forged-fuel': { wat: 'forged-fuel.wat', world: 'agent', refused: true },
  'atomic-wait': { wat: 'atomic-wait.wat', world: 'agent', refused: true },
  'unknown-import': {
    wat: 'unknown-import.wat',
    world: 'agent',
    extraPackages: {
      evil: 'package example:evil@1.0.0;\ninterface net { connect: func(host: string) -> u32; }\n',
    },
    extraWorldLines: ['import example:evil/net@1.0.0;'],
  },
  // The agent world's export names with other types: refused at load.
  'wrong-handle': {
    wat: 'wrong-handle.wat',
    world: 'agent',
    worldLines: [
      'use agentos:kernel/types@0.1.0.{error, json};',
      'export init: func(config: json) -> result<_, error>;',
      'export handle: func(x: u32) -> u32;',
    ],
  },
  // The agent world's types, declared by the component itself: the same structure, so an agent.
  'echo-own-types': {
    wat: 'echo.wat',
    world: 'agent',
    worldLines: [
      'variant error { not-found(string), denied(string), quota-exceeded(string), timed-out(string), unavailable(string), invalid(string) }',
      'record message { id: u64, kind: string, sender: option<string>, body: string, sent-at: u64 }',
      'export init: func(config: string) -> result<_, error>;',
      'export handle: func(message: message) -> result<string, error>;',
    ],
  },
  // Built against a copy of the kernel's WIT whose message lacks sent-at: the ABI's names, not its types.
  'short-message': {
    wat: 'short-message.wat',
    world: 'agent',
    kernelWitEdits: [
      [
        'types.wit',
        '    /// When the kernel accepted it, in milliseconds since the Unix epoch (kernel clock).\n    sent-at: u64,\n',
        '',
      ],
    ],
  },
  'deep-wat': { wat: 'deep.wat', world: 'agent' },
} satisfies Record<string, FixtureSpec>;

export type FixtureName = keyof typeof FIXTURES;

const cacheDir = (): string => join(packageRoot(), 'node_modules', '.cache', 'agentos-fixtures');

function witDigest(): string {
  const dir = witDir();
  return sha256(
    Buffer.concat(
      readdirSync(dir)
        .sort()
        .map((f) => readFileSync(join(dir, f))),
    ),
  );
}

/** What `agentos build` does to a source (its wrapper included): a TS fixture is rebuilt when it changes. */
function buildDigest(): string {
  const files = ['build.ts', 'export-wrapper.ts', 'engines.ts', 'component-exports.ts'].map((f) =>
    readFileSync(join(packageRoot(), 'toolchain', f)),
  );
  return sha256(Buffer.concat(files));
}

/**
 * A fixture's manifest: it requests every kernel interface (and any other package's interface
 * its world imports), so what it is granted is what the test grants.
 */
export function fixtureManifest(name: string, spec: FixtureSpec): Manifest {
  const others = ('wat' in spec ? (spec.extraWorldLines ?? []) : []).flatMap((l) => {
    const m = /^import [a-z][a-z0-9-]*:[a-z][a-z0-9-]*\/([a-z][a-z0-9-]*)@/.exec(l);
    return m ? [m[1]!] : [];
  });
  return {
    name,
    version: '1.0.0',
    publisher: DEV_PUBLISHER,
    description: `test fixture ${name}`,
    world: spec.world,
    capabilities: [...WIT_INTERFACES.filter((i) => i !== 'types'), ...others],
  };
}

/**
 * Component bytes made in a test, with `manifest` embedded and signed by the dev key, as
 * `agentos build` and `agentos sign` would leave them: the kernels `openKernel` opens load them.
 */
export function signedForTests(bytes: Uint8Array, manifest: Manifest): Buffer {
  return signComponent(withManifest(bytes, manifest, manifest.name), devKey(), manifest.name);
}

/** Path of the built fixture (with its manifest, signed by the dev key), built if its sources or the build changed. */
export async function fixture(name: FixtureName): Promise<string> {
  const spec: FixtureSpec = FIXTURES[name];
  const file = 'ts' in spec ? spec.ts : spec.wat;
  let source = readFileSync(join(FIXTURES_DIR, file), 'utf8');
  if (!('ts' in spec))
    source = source.replace(';;COMMON', readFileSync(join(FIXTURES_DIR, 'common.wat.inc'), 'utf8'));
  const manifest = fixtureManifest(name, spec);
  const signer = devKey();
  const key = sha256(
    Buffer.from(
      `${source}\0${JSON.stringify(spec)}\0${witDigest()}\0${'ts' in spec ? buildDigest() : ''}\0${JSON.stringify(manifest)}\0${signer.publicKey.id}`,
    ),
  ).slice(0, 16);
  const out = join(cacheDir(), `${name}-${key}.wasm`);
  if (existsSync(out)) return out;
  mkdirSync(cacheDir(), { recursive: true });
  const built = `${out}.${process.pid}.unsigned`;
  if ('ts' in spec) {
    const engine = spec.engine ?? 'spidermonkey';
    await buildComponent(join(FIXTURES_DIR, file), { world: spec.world, out: built, manifest, engine });
  } else {
    const core = 'parser' in spec && spec.parser === 'binaryen' ? wat(source) : undefined;
    writeFileAtomic(built, await buildWatComponent(source, { ...spec, manifest, core }));
  }
  writeFileAtomic(out, signComponent(readFileSync(built), signer, name));
  rmSync(built, { force: true });
  return out;
}

/** Path of a first-party sample component (components/), building the samples if needed. */
export async function sample(name: 'echo' | 'counter' | 'text-stats'): Promise<string> {
  const path = samplePath(name);
  if (!existsSync(path)) await buildSamples();
  return path;
}

/**
 * Builds every fixture and sample once, then transpiles and meters them into the shared cache,
 * two at a time (vitest global setup): metering a JS component takes ~4 s, once.
 */
export async function buildAll(): Promise<void> {
  await buildSamples();
  const paths = [samplePath('echo'), samplePath('counter'), samplePath('text-stats')];
  for (const name of Object.keys(FIXTURES) as FixtureName[]) {
    const spec: FixtureSpec = FIXTURES[name];
    if (spec.lazy) continue;
    const path = await fixture(name);
    if (!spec.refused) paths.push(path);
  }
  const loader = new Loader(tempHome(), TEST_CACHE_DIR);
  const next = async (): Promise<void> => {
    for (let path = paths.pop(); path; path = paths.pop()) {
      const bytes = readFileSync(path);
      await loader.transpiled(sha256(bytes), bytes);
    }
  };
  await Promise.all([next(), next()]);
}

const temps = new Set<string>();
let removeAtExit = false;

/**
 * A fresh, empty temp dir (a data dir, a cache). Removed by `removeTempHomes()` — after each test
 * file (testing/setup.ts) — or when the process exits, so runs leave nothing behind.
 */
export function tempHome(prefix = 'agentos-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  if (!removeAtExit) {
    removeAtExit = true;
    process.once('exit', removeTempHomes);
  }
  temps.add(dir);
  return dir;
}

/** Removes every temp dir `tempHome` made so far (close the kernels using them first). */
export function removeTempHomes(): void {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
  temps.clear();
}

/** Transpiled components shared by every test kernel (each has its own data dir). */
export const TEST_CACHE_DIR = join(packageRoot(), 'node_modules', '.cache', 'agentos-transpiled');

/** The grants the probe fixture imports. */
export const PROBE_GRANTS = ['log', 'clock', 'random', 'working-memory'];

/**
 * Options for a kernel in a test's child process (it cannot use `openKernel`'s cleanup): the
 * shared cache, 2 workers, a silent log, and trust in the dev key that signed the fixtures.
 */
export const childKernelOptions = (home: string): KernelOptions => ({
  home,
  cacheDir: TEST_CACHE_DIR,
  workers: 2,
  logLevel: 'silent',
  policy: { trust: devTrust() },
});

const opened = new Set<Kernel>();

/**
 * A kernel on `home` (default: a fresh temp dir) with 2 workers, a silent log and the shared
 * cache. Every kernel opened here is closed after the test (testing/setup.ts).
 */
export async function openKernel(options: KernelOptions = {}): Promise<Kernel> {
  const kernel = await Kernel.open({
    workers: 2,
    logLevel: 'silent',
    home: tempHome(),
    cacheDir: TEST_CACHE_DIR,
    policy: { trust: devTrust() },
    ...options,
  });
  opened.add(kernel);
  return kernel;
}

/** Closes every kernel the test opened (close is idempotent). */
export async function closeKernels(): Promise<void> {
  const all = [...opened];
  opened.clear();
  await Promise.all(all.map((k) => k.close()));
}

/** A pino logger at `level` whose lines (parsed) land in `lines`. */
export function captureLog(level: string): { lines: Record<string, unknown>[]; logger: Logger } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const l of chunk.toString().split('\n'))
        if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { lines, logger: pino({ level }, sink) };
}

/**
 * Waits until `f` holds: the kernel acts in the background, so a test waits for the event that
 * shows it. The bound is generous (a loaded machine must not fail it) and only stops a test that
 * would otherwise hang.
 */
export async function until(
  what: string,
  f: () => boolean | Promise<boolean>,
  boundMs = 30_000,
): Promise<void> {
  const end = Date.now() + boundMs;
  while (!(await f())) {
    if (Date.now() > end) throw new Error(`never happened: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Spawns the messenger fixture (fixtures/messenger.ts) as `name`, granted `ipc` unless told otherwise. */
export async function messenger(k: Kernel, name: string, options: SpawnOptions = {}): Promise<string> {
  return k.spawn(await fixture('messenger'), { grants: ['ipc'], name, ...options });
}

/**
 * Ends the thread of the first worker `which` picks, as a thread that dies by itself would end
 * (an engine crash, an out-of-memory abort), and returns its slot: `WorkerPool.exitThread`, on
 * the pool given or the kernel's (`workerPoolOf`).
 */
export async function exitWorkerThread(
  owner: Kernel | WorkerPool,
  which: (slot: WorkerSlot) => boolean,
): Promise<WorkerSlot> {
  const pool = owner instanceof WorkerPool ? owner : workerPoolOf(owner);
  const slot = [...pool.slots.values()].find(which);
  if (!slot) throw new Error('no worker fits');
  await pool.exitThread(slot);
  return slot;
}
