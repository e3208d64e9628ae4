/**
 * `npm run bench`: runs every benchmark and records the figures, each beside its baseline, in
 * bench/RESULTS.md (for people) and bench/results.json (one entry per figure).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { argv, stderr } from 'node:process';
import { packageRoot } from '../kernel/base/paths.js';
import { addressSpaceFigures, addressSpaceSection } from './address-space.js';
import { analysis, previousRun, table } from './analysis.js';
import { dormancyFigures } from './dormancy.js';
import { durabilityFigures } from './durability.js';
import { fuelFigures } from './fuel.js';
import { ipcFigures } from './ipc.js';
import { type Figure, machine, withSection } from './measure.js';
import { recoveryFigures } from './recovery.js';
import { registeredFigures, registeredSection } from './registered.js';
import { registryFigures } from './registry.js';
import { replayFigures } from './replay.js';
import { retentionFigures, retentionSection } from './retention.js';
import { scaleFigures, scaleSection } from './scale.js';
import { schedulerFigures } from './scheduler.js';
import { signingFigures } from './signing.js';
import { kernelFigures, loadFigures } from './spine.js';

const log = (s: string): void => {
  stderr.write(`${s}\n`);
};

/** bench/RESULTS.md's spine section. */
function spineSection(spine: Figure[], table: (f: Figure[]) => string): string {
  return `## Spine: load, spawn, invoke, hostcalls

Every component runs metered (see Fuel below), so the kernel's side of each figure includes
the fuel pass's cost; the bare baselines run the plain modules jco emits.

${table(spine)}

How each is measured:
- **Loads** use the echo agent built with SpiderMonkey (12 MB) and with QuickJS (1.6 MB), median
  of 3. "First" starts with an empty transpile cache; "cached" is a new loader (a restarted
  kernel) on a warm cache.
- **Spawn**: \`kernel.spawn\` with a warm cache, median of 7 — verify, link the grants, instantiate
  in a worker and run \`init\`; the baseline instantiates the same glue on the main thread.
- **Trivial invocation**: \`await kernel.send(id, {text:'hi'})\` — validate, append to the
  durable mailbox, schedule, run \`handle\` in a worker, commit its unit (journal input and
  outcome, ack), resolve; 3,000 sequential sends after 500 warm-up, on two kernels interleaved:
  durability \`strict\` (the default: resolved once the unit is on disk) and \`relaxed\`
  (resolved when the handler returns). Baseline: \`handle\` on a bare jco instance on the main
  thread; and, for the least isolation must pay, that call plus a bare Atomics round trip
  (p50 of 5,000, measured in each round).
- **Hostcalls**: an agent loops 20,000 hostcalls inside one \`handle\`; per call = (time with
  20,000 − time with 0) / 20,000, median of 3. Each call crosses to the kernel thread, passes the
  dispatcher (capability check, accounting, span) and is journaled. Baseline: a bare
  SharedArrayBuffer/Atomics round trip from a worker to a main thread waiting with
  \`Atomics.waitAsync\`, the same wake-up path, mean of 20,000.
`;
}

/** bench/RESULTS.md's fuel section. */
function fuelSection(fuel: Figure[], table: (f: Figure[]) => string): string {
  return `## Fuel: metered against not metered

${table(fuel)}

How each is measured: the same export on the main thread, once from the metered core modules
(with the worker's meter answering \`out_of_fuel\` every 1 M units) and once from the plain
ones jco emits, in 5 interleaved rounds; the median of each. The fuel each call used is in its
name: the same every run.

The tight loop's ratio depends on the host this machine's VM runs on: 1.006× on 2026-12-02,
about 1.55× on 2026-12-03 for the same loop, metered by the 2026-12-02 build as well as by
today's (both run side by side that day): the pass did not change, the host did.
`;
}

/** bench/RESULTS.md's replay section: replay, dormant agents, recovery (retention has its own). */
function replaySection(replay: Figure[], table: (f: Figure[]) => string): string {
  return `## Replay: a recorded run again, from its journal

${table(replay.filter((f) => !f.name.startsWith('retention:')))}

How each is measured: a probe agent on a kernel with the shipped capabilities. Its run is
recorded (every message sent and awaited, timed from the first send to the last outcome), then
replayed three times with \`kernel.replay\` (median): an isolated kernel opened on its own data
dir, the agent placed, every message delivered again and every hostcall answered from the
journal and checked, the kernel closed. The waiting run's \`clock.sleep\` calls are answered at
once; the computing run has nothing to skip, so it shows what a replay costs on its own.
**Dormant agents**: 12 echo agents on a kernel with \`dormantAfterMs: 1500\`, each spawned (timed:
the cold spawn), sent one message, then left until all are dormant; the next message to each is
timed (an instance started from the kept state in a worker, then the call), then one more (a warm
call, for scale).
**Recovery**: a probe agent sent 1,000 echoes (250 and 2,000 for the journal lengths beside it; each awaited), then a message that traps, with
\`delivery.attempts: 1\`; the next message is timed: its heap rebuilt (the latest checkpoint
started, the invocations after it executed again with their hostcalls answered from the
journal, the state taken) and the call, median of 3 kernels each. Three configurations, the same run: checkpoints every 100
invocations, none (all 1,000 executed again), and \`recovery: 'init'\` (init again, the heap
lost). Each checks the heap it got. A checkpoint's cost: \`kernel.checkpoint\` after each of 10
echoes, until it is on disk, beside the echo itself.
`;
}

async function main(): Promise<void> {
  const started = new Date();
  log(`machine: ${machine()}`);
  const spine = [...(await loadFigures(log)), ...(await kernelFigures(log))];
  const fuel = await fuelFigures(log);
  const sched = await schedulerFigures(log);
  const ipc = await ipcFigures(log);
  const durable = await durabilityFigures(log);
  const signing = [...(await signingFigures(log)), ...(await registryFigures(log))];
  const replay = [
    ...(await replayFigures(log)),
    ...(await dormancyFigures(log)),
    ...(await recoveryFigures(log)),
    ...(await retentionFigures(log)),
  ];
  const registered = await registeredFigures(log);
  const scale = await scaleFigures(log);
  const space = await addressSpaceFigures(log);
  const figures = [
    ...spine,
    ...fuel,
    ...sched,
    ...ipc,
    ...durable,
    ...signing,
    ...replay,
    ...registered,
    ...scale,
    ...space,
  ];
  const root = packageRoot();
  const previous = previousRun(join(root, 'bench', 'results.json'));
  writeFileSync(join(root, 'bench', 'results.json'), `${JSON.stringify(figures, null, 2)}\n`);
  const md = `# Benchmark results

Latest run: ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC, \`npm run bench\`.
Machine: ${machine()}.

Every figure is measured beside its baseline in the same run. Times are wall-clock; the two
cores are shared with the OS, so expect ±10–20 % between runs.

${spineSection(spine, table)}

${fuelSection(fuel, table)}

## IPC: agent to agent

${table(ipc)}

How each is measured (2 CPU permits, 4 workers): **throughput**: a wasm agent sends 20,000
messages with \`ipc.send\` in one call, a wasm echo agent handles each in its own invocation;
from the first send to the last one handled, every message in the receiver's LMDB mailbox (or in
memory) and journaled on both sides; two rounds warm the kernel up, the median of the next seven
is reported. **Round trip**: a JS agent makes 3,000 \`ipc.call\`s to the wasm echo, each timed
inside it with the kernel's monotonic clock (so each includes one clock hostcall), after its
first 1,000 calls (reported apart, as a fresh caller) and 2 s more of calls. **Fan-out**: 10 agents
hold 100 subscriptions each; one publish, until all 1,000 copies are handled. The baseline is a
bare \`postMessage\` between the main thread and a worker (ping-pong round trips; a one-way
stream of 50,000).

## Durability: acknowledged sends

${table(durable)}

How each is measured: two kernels side by side, each with a wasm echo; one answers
\`kernel.send\` once the invocation's unit is on disk (\`strict\`, the default), the other when
the handler returns (\`relaxed\`). One caller: 300 sequential sends after 50 warm-up, per round;
32 callers: each sends 100 messages one after the other, all 32 at once; 5 interleaved rounds,
percentiles over all sends (one caller) and the median round (32 callers).

## Scheduler: preemption and latency under load

${table(sched)}

How each is measured:
- **One preemption**: on one kernel with one CPU permit and a slice of one tick (1 M fuel), two
  probe agents each spin 300,000 rounds, first one after the other (nothing waits, so nothing
  parks), then both at once (they take turns every slice); the extra wall time divided by the
  parks, alternated 5 times on the same warm workers, median. It includes the kernel's
  scheduling decision and both thread wake-ups.
- **Interactive echo under load**: the echo agent (priority \`interactive\`) answers 1,500
  sequential sends on an idle kernel (2 CPU permits, 7 workers), then again while 4 \`batch\`
  probe agents spin without pause.

## Signing: checking a component at load

${table(signing)}

How each is measured: the signed 12 MB echo sample, on the main thread. **Cold**: a new signing
policy each time (nothing remembered): every section after the signature hashed with SHA-256,
the Ed25519 signature verified, the trust store read and the manifest's publisher checked; 15
runs after 3. **Cached**: one policy asked again for the same digest (the loader has the
digest already: it hashes every component it reads); 2,000 runs. Baseline: a bare SHA-256 of
the whole file. **Publish / pull**: Debian's docker-registry on 127.0.0.1 (distribution 2.8,
filesystem storage), the signed 11.4 MB text-stats sample. Publish is \`kernel.catalog.publish\` with
force (the policy check, then the blobs, which the registry already has after the first
round, and the manifest), 7 runs after 1; pull is the OCI client's pull (manifest, blob,
digest and size checked), 15 runs after 2. Baseline: a bare \`fetch\` of the same blob.

${replaySection(replay, table)}

${retentionSection(
  replay.filter((f) => f.name.startsWith('retention:')),
  table,
)}
${registeredSection(registered, table)}

${scaleSection(scale, table)}

${addressSpaceSection(space, table)}`;
  writeFileSync(join(root, 'bench', 'RESULTS.md'), `${md}\n${analysis(figures, previous)}`);
  log('wrote bench/RESULTS.md and bench/results.json');
}

/** The figures bench/RESULTS.md's replay section shows (retention has its own). */
const inReplaySection = (f: Figure): boolean =>
  [
    'replay of',
    'wake a dormant',
    'the kept state',
    "recover a JS agent's heap",
    'take a checkpoint',
    'a checkpoint of',
  ].some((p) => f.name.startsWith(p));

/** A bench run alone: its figures replace its earlier ones, its section is rewritten, the rest kept. */
const ALONE: Record<
  string,
  {
    prefix: string | string[];
    heading: string;
    run: () => Promise<Figure[]>;
    /** Its section, from its fresh figures and every figure recorded (this run's included). */
    section: (fresh: Figure[], all: Figure[]) => string;
  }
> = {
  spine: {
    prefix: ['first load', 'cached load', 'spawn ', 'trivial invocation', 'hostcall', 'the jco glue alone'],
    heading: 'Spine',
    run: async () => [...(await loadFigures(log)), ...(await kernelFigures(log))],
    section: (f) => spineSection(f, table),
  },
  recovery: {
    prefix: ["recover a JS agent's heap", 'take a checkpoint of a JS agent', 'a checkpoint of a JS probe'],
    heading: 'Replay',
    run: () => recoveryFigures(log),
    section: (_, all) => replaySection(all.filter(inReplaySection), table),
  },
  dormancy: {
    prefix: ['wake a dormant', 'the kept state of a dormant'],
    heading: 'Replay',
    run: () => dormancyFigures(log),
    section: (_, all) => replaySection(all.filter(inReplaySection), table),
  },
  fuel: {
    prefix: ['JS compute skill', 'compiled compute', 'metering a '],
    heading: 'Fuel',
    run: () => fuelFigures(log),
    section: (f) => fuelSection(f, table),
  },
  registered: {
    prefix: 'registered agents:',
    heading: 'Registered agents',
    run: () => registeredFigures(log),
    section: (f) => registeredSection(f, table),
  },
  scale: {
    prefix: 'scale:',
    heading: 'Scale',
    run: () => scaleFigures(log),
    section: (f) => scaleSection(f, table),
  },
  'address-space': {
    prefix: 'address space:',
    heading: 'Address space',
    run: () => addressSpaceFigures(log),
    section: (f) => addressSpaceSection(f, table),
  },
  retention: {
    prefix: 'retention:',
    heading: 'Retention',
    run: () => retentionFigures(log),
    section: (f) => retentionSection(f, table),
  },
};

/** `node dist/bench/run.js spine|fuel|recovery|dormancy|registered|retention|scale|address-space`: that bench alone. */
async function alone(name: string): Promise<void> {
  const bench = ALONE[name]!;
  log(`machine: ${machine()}`);
  const figures = await bench.run();
  const root = packageRoot();
  const json = join(root, 'bench', 'results.json');
  const previous = previousRun(json);
  const prefixes = typeof bench.prefix === 'string' ? [bench.prefix] : bench.prefix;
  const others = [...previous.values()].filter((f) => !prefixes.some((p) => f.name.startsWith(p)));
  const all = [...others, ...figures];
  writeFileSync(json, `${JSON.stringify(all, null, 2)}\n`);
  const md = join(root, 'bench', 'RESULTS.md');
  const text = withSection(readFileSync(md, 'utf8'), bench.heading, bench.section(figures, all));
  // The analysis is the file's last section: written again from every figure now recorded.
  const goals = text.indexOf('## Against the goals');
  let against: string | null = null;
  try {
    against = analysis(all, previous);
  } catch (e) {
    log(`the analysis is left as it was (${(e as Error).message}): a full \`npm run bench\` writes it`);
  }
  writeFileSync(md, against === null || goals < 0 ? text : `${text.slice(0, goals)}${against}`);
  log('wrote its figures into bench/RESULTS.md and bench/results.json');
}

const only = argv[2];
if (only !== undefined && !Object.hasOwn(ALONE, only))
  throw new Error(`no bench ${JSON.stringify(only)} to run alone (${Object.keys(ALONE).join(', ')})`);
await (only ? alone(only) : main());
