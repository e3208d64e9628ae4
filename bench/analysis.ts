/**
 * What `npm run bench` writes beside the figures: the table of a section, the run before's
 * figures, and the analysis against the goals (bench/RESULTS.md's last section), from the
 * figures alone so that a bench run alone can write it again.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { Figure } from './measure.js';

export function table(figures: Figure[]): string {
  const rows = figures.map(
    (f) =>
      `| ${f.name} | ${f.value} ${f.unit} | ${f.baseline.name} | ${f.baseline.value} ${f.unit} | ${f.ratio}× | ${f.goal ?? ''} |`,
  );
  return [
    '| figure | AgentOS | baseline | baseline value | ratio | goal |',
    '|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}

/** The figures of the run before this one (bench/results.json as it was), by name. */
export function previousRun(path: string): Map<string, Figure> {
  if (!existsSync(path)) return new Map();
  try {
    return new Map((JSON.parse(readFileSync(path, 'utf8')) as Figure[]).map((f) => [f.name, f]));
  } catch {
    return new Map();
  }
}

/** What the run says against the goals, from its own numbers (and the run before's). */
export function analysis(figures: Figure[], previous: Map<string, Figure>): string {
  const by = (prefix: string): Figure => {
    const f = figures.find((x) => x.name.startsWith(prefix));
    if (!f) throw new Error(`no figure named ${JSON.stringify(prefix)}… recorded`);
    return f;
  };
  const before = (prefix: string, ...older: string[]): string => {
    for (const name of [prefix, ...older]) {
      const f = [...previous.values()].find((p) => p.name.startsWith(name));
      if (f) return `${f.value} ${f.unit} in the run before (${f.date})`;
    }
    return 'no earlier run recorded';
  };
  /** How this machine's speed compares with the run before's, read off a figure's baseline. */
  const speed = (f: Figure): string => {
    const p = previous.get(f.name);
    if (!p || p.baseline.name !== f.baseline.name) return '';
    const r = f.baseline.value / p.baseline.value;
    return `Its baseline (${f.baseline.name}) measured ${f.baseline.value} against ${p.baseline.value} in the run before: this machine ran ${r >= 1 ? `${r.toFixed(1)}× faster` : `${(1 / r).toFixed(1)}× slower`} today, and the figure's ratio to its baseline went from ${p.ratio} to ${f.ratio}.`;
  };
  const smP50 = by('trivial invocation end to end, p50 (JS (SpiderMonkey) echo), durability relaxed');
  const watP50 = by('trivial invocation end to end, p50 (hand-written wasm echo), durability relaxed');
  const smStrict = by('trivial invocation end to end, p50 (JS (SpiderMonkey) echo), durability strict');
  const watStrict = by('trivial invocation end to end, p50 (hand-written wasm echo), durability strict');
  const ack50 = by(
    'acknowledged send, one caller: kernel.send (wasm echo) until its outcome is on disk, p50',
  );
  const ack99 = by(
    'acknowledged send, one caller: kernel.send (wasm echo) until its outcome is on disk, p99',
  );
  const lanes = by('acknowledged sends, 32 callers');
  const get = by('hostcall round trip from a worker: working-memory.get');
  const posted = by('hostcall from a worker: log.write');
  const glue = by('the jco glue alone');
  const atomics = get.baseline.value;
  const kernelShare = Math.max(0, get.value - glue.value - atomics);
  const js = by('JS compute skill (text-stats over 13 KB, QuickJS)');
  const jsSm = by('JS compute skill (text-stats over 13 KB, SpiderMonkey)');
  const qjsP50 = by('trivial invocation end to end, p50 (JS (QuickJS) echo), durability relaxed');
  const hop = (label: string) =>
    by(`trivial invocation end to end, p50 (${label}), durability relaxed, against a bare jco call`);
  const hops = ['JS (QuickJS) echo', 'JS (SpiderMonkey) echo', 'hand-written wasm echo'].map(
    (l) => `${hop(l).ratio}× for the ${l} (${hop(l).value} µs against ${hop(l).baseline.value})`,
  );
  const tight = by('compiled compute: xorshift');
  const fib = by('compiled compute: recursive fib');
  const park = by('one preemption');
  const p50 = by('interactive echo while 4 CPU hogs run, p50');
  const p99 = by('interactive echo while 4 CPU hogs run, p99');
  const thr = by('durable agent→agent throughput');
  const rt99 = by('agent→agent round trip (ipc.call), durable, p99');
  const mem = by('in-memory agent→agent throughput');
  const fan = by('fan-out');
  const replayWait = by('replay of a recorded run that waited');
  const replaySpin = by('replay of a recorded run that only computes');
  const wake = by('wake a dormant JS agent');
  const rec = by("recover a JS agent's heap after a trap, 1000");
  const recInit = by("recover a JS agent's heap after a trap (checkpoint");
  const cpTake = by('take a checkpoint of a JS agent');
  return `## Against the goals

- **Durable acknowledgements:** \`kernel.send\` now resolves once the invocation's outcome, its
  ack and its effects are committed together and on disk. One caller at a time: p50 ${ack50.value} µs,
  p99 ${ack99.value} µs, against ${ack50.baseline.value} / ${ack99.baseline.value} µs when the same kernel
  answers as the handler returns (\`durability: 'relaxed'\`, the behaviour before): the ack
  latency added is about ${Math.round(ack50.value - ack50.baseline.value)} µs at the median, the end of the event-loop
  turn plus one LMDB commit and sync on LMDB's writer thread. 32 callers at once: ${Math.round(lanes.value)} msg/s
  against ${Math.round(lanes.baseline.value)} msg/s relaxed (many invocations share each commit). The
  trivial invocation's p50: ${smStrict.value} µs (JS echo) and ${watStrict.value} µs (wasm echo) strict,
  ${smP50.value} and ${watP50.value} µs relaxed (${before('trivial invocation end to end, p50 (JS (SpiderMonkey) echo), durability relaxed', 'trivial invocation end to end, p50 (JS')} for the JS echo).
- **IPC throughput (goal ≥ 50,000 durable msg/s):** ${Math.round(thr.value)} msg/s durable
  (median of 7 rounds of 20,000; ${before('durable agent→agent throughput')}), ${Math.round(mem.value)} msg/s with in-memory mailboxes:
  ${thr.value >= 50_000 ? 'met' : 'not met'}. ${speed(thr)} Every send of the sending call is staged
  and delivered when it commits, with its outcome, so the receiver starts once the sender's call
  (all 20,000 sends) is done: the two no longer overlap, which the throughput pays for. The sender's \`ipc.send\`s are answered in its own
  worker under a credit (a few places in the receiver's mailbox, granted by a blocking send and
  doubling to 256) and posted to the kernel on a ring; the receiver takes them in batches of up
  to 32; the journal stores each agent's records of one write batch as one LMDB value.
- **IPC round trip (goal p99 ≤ 1 ms):** p99 ${rt99.value} µs (p50
  ${by('agent→agent round trip (ipc.call), durable, p50').value} µs) once warm:
  ${rt99.value <= 1000 ? 'met' : 'not met'}; a bare postMessage ping-pong: ${rt99.baseline.value} µs.
  A call crosses four thread hops. A fresh JS caller's first 1,000 calls see p99
  ${by('fresh JS caller').value} µs: for its first seconds V8 tiers the caller's 12 MB SpiderMonkey
  module up on background threads, which compete for the two cores.
- **Fan-out:** one publish to 1,000 subscriptions takes ${fan.baseline.value} ms to append the 1,000
  durable copies and ${fan.value} ms until all are handled.

- **Preemption:** one park + resume costs ${park.value} µs of wall time (a bare Atomics round trip:
  ${park.baseline.value} µs); with the default slice (5 M fuel, ~1 ms of JS) that is ~2 % of a
  contended core.
- **Interactive latency while 4 CPU hogs run** (2 permits, hogs \`batch\`, echo
  \`interactive\`): p50 ${p50.value} µs and p99 ${p99.value} µs, against ${p50.baseline.value} µs and
  ${p99.baseline.value} µs on the idle kernel. The hogs never hold the echo up: it is preempted
  in at the hogs' next fuel tick. (The idle kernel is not faster: with every core busy, threads
  wake up without leaving their idle states.)

- **Fuel (goal ≤ 1.10× unmetered):** compiled compute ${tight.ratio}× (a tight loop, the worst case)
  and ${fib.ratio}× (recursion): ${tight.ratio <= 1.1 ? 'met' : 'not met'} (the recursion pays one check per call, by design). The JS skill runs at ${js.ratio}× on QuickJS (${js.value} ms
  against ${js.baseline.value} ms) and ${jsSm.ratio}× on SpiderMonkey (${jsSm.value} ms against
  ${jsSm.baseline.value} ms): ${js.ratio <= 1.1 && jsSm.ratio <= 1.1 ? 'met' : 'not met'}. An interpreter executes many short basic blocks
  and calls many small functions, and each function entry updates and checks the global counter;
  block charges already go to a local. Metering the 12 MB core once costs
  ${(by('metering a 12 MB').value / 1000).toFixed(1)} s (cached by digest, never on a hot path).

- **Trivial invocation, durability relaxed (goal ≤ 1.3× a bare jco call + a bare Atomics round
  trip, the least isolation must pay):** ${hops.join(', ')}: ${['JS (QuickJS) echo', 'JS (SpiderMonkey) echo', 'hand-written wasm echo'].every((l) => hop(l).ratio <= 1.3) ? 'met' : 'not met'}.
  Against the bare jco call alone (the spine's ≤ 1.5×): ${qjsP50.ratio}× for the QuickJS echo (${qjsP50.value} µs against
  ${qjsP50.baseline.value} µs), ${smP50.ratio}× for the SpiderMonkey one
  (${smP50.value} µs against ${smP50.baseline.value} µs), ${watP50.ratio}× for the hand-written one
  (${watP50.value} µs against ${watP50.baseline.value} µs). The bare call never leaves the
  main thread; an invocation crosses to a worker and back over its command channel (two Atomics
  wake-ups, ~8 µs together on this machine), is metered and scheduled, and is made durable
  (mailbox append and ack, journal input and outcome, in the write batch). The p99 is dominated by
  thread wake-ups on two shared cores: every invocation involves the kernel thread, a worker
  and LMDB's writer thread.
- **Hostcall (goal ≤ 1.3× a bare Atomics round trip):** a blocking call (\`working-memory.get\`)
  ${get.ratio}× (${get.value} µs against ${atomics} µs): ${get.ratio <= 1.3 ? 'met' : 'not met'}. Of the
  ${get.value} µs, ${glue.value} µs is jco 1.35's own glue for one import call (measured with the
  import answered locally, no kernel and no thread), ${atomics} µs the round trip itself, and
  ${kernelShare < 0.5 ? "the kernel's own work (decode, dispatch, the capability, accounting, the journal record) is within the noise: it overlaps the glue" : `about ${kernelShare.toFixed(1)} µs the kernel: decode, dispatch, the capability, accounting and the journal record`}. A posted call (\`log.write\`, answered in the worker and applied by the
  kernel afterwards) costs ${posted.value} µs: ${posted.ratio}× the bare round trip.
- **Loads:** the first load is bound by metering the 12 MB core module (${by('first load').ratio}× of jco +
  compile alone, once per component); a cached
  load is ${by('cached load').ratio}× of compiling the cached core modules, the rest being the header
  check, hashing and the cached inspection.

- **Replay (goal ≥ 5× faster than a run that waited on I/O or timers):** ${replayWait.value} ms
  against the run's ${replayWait.baseline.value} ms, ${(1 / replayWait.ratio).toFixed(1)}× faster:
  ${replayWait.ratio <= 0.2 ? 'met' : 'not met'}. Every \`clock.sleep\` is answered from the journal at
  once; what is left is the isolated kernel's open and close, the agent's first instance, and
  one delivery per invocation. A run with nothing to wait for replays in ${replaySpin.value} ms
  against ${replaySpin.baseline.value} ms: the compute runs again, on one worker.
- **Dormant agents (goal: wake ≤ 10 ms p50, beside a cold spawn):** ${wake.value} ms against a cold
  spawn's ${wake.baseline.value} ms: ${wake.value <= 10 ? 'met' : 'not met'}. Waking instantiates the
  component's cores afresh in a worker, unpacks the kept state and copies it in, then runs the call.
- **Recovery after a trap:** with a checkpoint every 100 invocations, ${rec.value} ms to the next
  answer (a checkpoint, the invocations after it again, the call); with none, ${rec.baseline.value} ms
  for the 1,000 invocations again (~${(rec.baseline.value / 1000).toFixed(2)} ms each, so the worst
  case with checkpoints is about ${((rec.baseline.value / 1000) * 100).toFixed(0)} ms more); starting
  afresh instead (the heap lost) takes ${recInit.baseline.value} ms, init included. A checkpoint costs
  ${cpTake.value} ms p50 to take and keep.
`;
}
