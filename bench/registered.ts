/**
 * Many registered agents, few resident: 10,000 echo agents spawned on one kernel whose idle
 * agents go dormant after 300 ms, then 1,000 of them made resident again. Measures the process's
 * memory (RSS, which covers the worker threads, and the main thread's heap) and the data dir's
 * size on disk per registered (dormant) agent and per resident one; resuming a parked agent (its
 * next message answered, from its kept state) beside cold spawns of the same component, timed in
 * turns on the same kernel with 10,000 registered; the time the 10,000 spawns took; and the
 * kernel's open with 10,000 agents in its data dir.
 *
 * Alone: `node dist/bench/run.js registered` (AGENTOS_BENCH_REGISTERED and
 * AGENTOS_BENCH_RESIDENT set smaller counts for a quick try).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { env, memoryUsage } from 'node:process';
import type { Kernel, KernelOptions } from '../index.js';
import { Kernel as KernelWithDefaults } from '../index.js';
import { sample, TEST_CACHE_DIR } from '../testing/harness.js';
import { devTrust } from '../toolchain/dev-key.js';
import { collector, type Figure, figure, machine, percentiles } from './measure.js';

const REGISTERED = Number(env.AGENTOS_BENCH_REGISTERED ?? 10_000);
const RESIDENT = Number(env.AGENTOS_BENCH_RESIDENT ?? 1_000);
/** Resumes timed in turns with as many cold spawns (both among the resident ones). */
const TIMED = 50;
/** Spawns in flight at once while registering. */
const IN_FLIGHT = 4;
const DORMANT_AFTER_MS = 300;
/** Untimed first starts on the reopened kernel: the component compiled, the workers given it. */
const WARM_RESUMES = 4;
/** Then a pause, before anything is timed. */
const SETTLE_MS = 3000;

const count = (n: number): string => n.toLocaleString('en-US');
const MiB = (b: number): string => `${(b / 2 ** 20).toFixed(0)} MiB`;
const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Memory {
  rss: number;
  /** RSS split (Linux): private memory, and file pages mapped (LMDB maps the data dir). */
  anon: number;
  file: number;
  heapUsed: number;
}

/** A kB field of /proc/self/status, in bytes (0 where there is none). */
function status(field: string): number {
  try {
    const kb = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
    return kb ? Number(kb[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

async function memory(gc: () => void): Promise<Memory> {
  for (let i = 0; i < 3; i++) {
    gc();
    await pause(100);
  }
  const m = memoryUsage();
  return { rss: m.rss, anon: status('RssAnon'), file: status('RssFile'), heapUsed: m.heapUsed };
}

const shown = (m: Memory): string =>
  `rss ${MiB(m.rss)} (anonymous ${MiB(m.anon)}, file ${MiB(m.file)}), heap ${MiB(m.heapUsed)}`;

/** Bytes the files under `dir` take on disk (allocated blocks), and their apparent size. */
function diskUsage(dir: string): { blocks: number; size: number } {
  let blocks = 0;
  let size = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    const s = statSync(join(e.parentPath, e.name));
    blocks += s.blocks * 512;
    size += s.size;
  }
  return { blocks, size };
}

const residentOf = (kernel: Kernel, ids: readonly string[]): number =>
  ids.reduce((n, id) => n + (kernel.inspect(id).dormant ? 0 : 1), 0);

/** Waits (looking every half second) until none of `ids` is resident. */
async function allDormant(
  kernel: Kernel,
  ids: readonly string[],
  boundMs: number,
  everyMs = 500,
): Promise<void> {
  const end = Date.now() + boundMs;
  for (;;) {
    const n = residentOf(kernel, ids);
    if (n === 0) return;
    if (Date.now() > end) throw new Error(`${n} of ${ids.length} agents never went dormant`);
    await pause(everyMs);
  }
}

export async function registeredFigures(log: (s: string) => void): Promise<Figure[]> {
  const gc = collector();
  const home = mkdtempSync(join(tmpdir(), 'agentos-bench-registered-'));
  const options: KernelOptions = {
    home,
    cacheDir: TEST_CACHE_DIR,
    logLevel: 'silent',
    policy: { trust: devTrust() },
  };
  const echo = await sample('echo');
  const grants = { grants: ['log'] };
  let kernel: Kernel | undefined;
  try {
    let t0 = performance.now();
    kernel = await KernelWithDefaults.open({ ...options, dormantAfterMs: DORMANT_AFTER_MS });
    const openEmpty = performance.now() - t0;
    const first = await kernel.spawn(echo, grants); // warm: the component is compiled once
    await allDormant(kernel, [first], 60_000);
    const before = await memory(gc);
    const diskBefore = diskUsage(home);
    log(`registered: before, ${shown(before)}`);

    const ids: string[] = [];
    let done = 0;
    let peakResident = 0;
    const started = performance.now();
    const k = kernel;
    const lane = async (): Promise<void> => {
      while (ids.length < REGISTERED) {
        const at = ids.length;
        ids.push('');
        ids[at] = await k.spawn(echo, grants);
        done += 1;
        if (done % 1000 === 0 || done === REGISTERED) {
          const resident = residentOf(
            k,
            ids.filter((id) => id !== ''),
          );
          peakResident = Math.max(peakResident, resident);
          log(
            `registered: ${count(done)} spawned in ${((performance.now() - started) / 1000).toFixed(0)} s, ${resident} resident, rss ${MiB(memoryUsage().rss)}`,
          );
        }
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
    const spawnMs = performance.now() - started;
    t0 = performance.now();
    await allDormant(kernel, [first, ...ids], 600_000);
    const settleMs = performance.now() - t0;
    const registered = await memory(gc);
    const disk = diskUsage(home);
    const kept = (await kernel.journal(ids[0]!)).find((e) => e.t === 'lifecycle' && e.op === 'dormant');
    const keptBytes = Number(
      /^(\d+) bytes$/.exec(kept?.t === 'lifecycle' ? (kept.detail ?? '') : '')?.[1] ?? 0,
    );
    // Resumes in the running kernel, in turns with cold spawns; each pair is left to go dormant
    // again before the next, so no snapshot is being taken meanwhile.
    const liveResumes: number[] = [];
    const liveSpawns: number[] = [];
    const extra: string[] = [];
    for (let i = 0; i < TIMED; i++) {
      const id = ids[ids.length - 1 - i]!;
      let t = performance.now();
      await kernel.send(id, { text: 'hi' });
      liveResumes.push((performance.now() - t) * 1000);
      t = performance.now();
      extra.push(await kernel.spawn(echo, grants));
      liveSpawns.push((performance.now() - t) * 1000);
      await allDormant(kernel, [id, extra.at(-1)!], 60_000, 20);
    }
    const n = ids.length + extra.length + 1;
    log(
      `registered: ${count(n)} registered, all dormant ${(settleMs / 1000).toFixed(1)} s after the last spawn; ${shown(registered)}, data dir ${MiB(disk.blocks)} on disk (${MiB(disk.size)} apparent)`,
    );
    await kernel.close();
    kernel = undefined;
    const closed = await memory(gc);

    t0 = performance.now();
    kernel = await KernelWithDefaults.open({ ...options, dormantAfterMs: null });
    const openFull = performance.now() - t0;
    const reopened = await memory(gc);
    log(
      `registered: kernel closed, ${shown(closed)}; reopened with ${count(n)} in ${openFull.toFixed(0)} ms (empty: ${openEmpty.toFixed(0)} ms), ${shown(reopened)}`,
    );
    const resumes: number[] = [];
    const timedResumes: number[] = [];
    const spawns: number[] = [];
    const woken: string[] = [];
    let next = 0;
    const resume = async (): Promise<number> => {
      const id = ids[next++]!;
      const t = performance.now();
      await kernel!.send(id, { text: 'hi' });
      const us = (performance.now() - t) * 1000;
      woken.push(id);
      resumes.push(us);
      return us;
    };
    for (let i = 0; i < WARM_RESUMES; i++) await resume();
    const spawned = [await kernel.spawn(echo, grants)];
    await pause(SETTLE_MS); // the new workers' V8 tiers the 12 MB module up in the background
    resumes.length = 0;
    for (let i = 0; i < TIMED; i++) {
      timedResumes.push(await resume());
      const t = performance.now();
      spawned.push(await kernel.spawn(echo, grants));
      spawns.push((performance.now() - t) * 1000);
    }
    while (woken.length + spawned.length < RESIDENT) {
      await resume();
      if (woken.length % 250 === 0) log(`registered: ${woken.length + spawned.length} resident`);
    }
    const resident = await memory(gc);
    const residentNow = residentOf(kernel, [...ids, ...spawned]);
    const peak = kernel.inspect(woken[0]!).stats.peakMemory;
    if (residentNow !== RESIDENT) log(`registered: ${residentNow} resident, expected ${RESIDENT}`);
    const [wake, spawn, all] = [percentiles(timedResumes), percentiles(spawns), percentiles(resumes)];
    const [liveWake, liveSpawn] = [percentiles(liveResumes), percentiles(liveSpawns)];
    const perRegistered = (registered.rss - before.rss) / ids.length;
    const heapPerRegistered = (registered.heapUsed - before.heapUsed) / ids.length;
    const perResident = (resident.rss - reopened.rss) / residentNow;
    const anonPerRegistered = (registered.anon - before.anon) / ids.length;
    const filePerRegistered = (registered.file - before.file) / ids.length;
    const anonPerResident = (resident.anon - reopened.anon) / residentNow;
    const diskPerRegistered = (disk.blocks - diskBefore.blocks) / ids.length;
    log(
      `registered: ${residentNow} resident, ${shown(resident)}: ${(perResident / 2 ** 20).toFixed(2)} MiB per resident agent (anonymous ${(anonPerResident / 2 ** 20).toFixed(2)} MiB; peak linear memory ${MiB(peak)}), ${(perRegistered / 1024).toFixed(1)} KiB per registered (anonymous ${(anonPerRegistered / 1024).toFixed(1)} KiB, file ${(filePerRegistered / 1024).toFixed(1)} KiB, heap ${(heapPerRegistered / 1024).toFixed(1)} KiB), data dir ${(diskPerRegistered / 1024).toFixed(1)} KiB per registered (kept state ${keptBytes} bytes)`,
    );
    log(
      `registered: in the running kernel, resume p50 ${(liveWake.p50 / 1000).toFixed(1)} ms (p99 ${(liveWake.p99 / 1000).toFixed(1)}), cold spawn p50 ${(liveSpawn.p50 / 1000).toFixed(1)} ms; after the reopen, resume p50 ${(wake.p50 / 1000).toFixed(1)} ms (p99 ${(wake.p99 / 1000).toFixed(1)}; all ${all.n} resumes p50 ${(all.p50 / 1000).toFixed(1)} ms, p99 ${(all.p99 / 1000).toFixed(1)} ms), cold spawn p50 ${(spawn.p50 / 1000).toFixed(1)} ms; ${count(ids.length)} spawns in ${(spawnMs / 1000).toFixed(0)} s (${IN_FLIGHT} in flight, at most ${peakResident} resident at a progress mark)`,
    );
    const of = `among ${count(n)} registered`;
    return [
      figure(
        `registered agents: process RSS per registered, dormant agent (${count(ids.length)} spawned, all dormant)`,
        perRegistered,
        'bytes',
        `process RSS per resident agent (${count(residentNow)} made resident)`,
        perResident,
      ),
      figure(
        `registered agents: anonymous RSS (private memory) per registered, dormant agent (${count(ids.length)})`,
        anonPerRegistered,
        'bytes',
        "file-backed RSS per registered agent (LMDB's map of the data dir)",
        filePerRegistered,
      ),
      figure(
        `registered agents: main-thread JS heap per registered, dormant agent (${count(ids.length)})`,
        heapPerRegistered,
        'bytes',
        'anonymous RSS per registered, dormant agent',
        anonPerRegistered,
      ),
      figure(
        `registered agents: process RSS per resident JS echo agent (${count(residentNow)} resident ${of})`,
        perResident,
        'bytes',
        'its linear memory (peak)',
        peak,
      ),
      figure(
        `registered agents: anonymous RSS per resident JS echo agent (${count(residentNow)} resident)`,
        anonPerResident,
        'bytes',
        'process RSS per resident JS echo agent',
        perResident,
      ),
      figure(
        `registered agents: data dir on disk per registered, dormant agent (${count(ids.length)})`,
        diskPerRegistered,
        'bytes',
        'its kept state (memories and globals, gzipped)',
        keptBytes,
      ),
      figure(
        `registered agents: resume a parked JS agent ${of} (its next message, answered), p50 of ${TIMED}`,
        liveWake.p50 / 1000,
        'ms',
        `a cold spawn of the same echo component on the same kernel, in turns with the resumes, p50 of ${TIMED}`,
        liveSpawn.p50 / 1000,
        '≤ 10 ms p50',
      ),
      figure(
        `registered agents: resume a parked JS agent after the kernel reopened ${of} (its first message since), p50 of ${TIMED}`,
        wake.p50 / 1000,
        'ms',
        `a cold spawn on the reopened kernel, in turns with the resumes, p50 of ${TIMED}`,
        spawn.p50 / 1000,
        '≤ 10 ms p50',
      ),
      figure(
        `registered agents: spawn ${count(ids.length)} echo agents, ${IN_FLIGHT} in flight, idle ones going dormant after ${DORMANT_AFTER_MS} ms`,
        spawnMs / 1000,
        's',
        `${count(ids.length)} × the cold spawn p50, one at a time`,
        (ids.length * liveSpawn.p50) / 1e6,
      ),
      figure(
        `registered agents: open a kernel with ${count(n)} agents in its data dir (all dormant)`,
        openFull,
        'ms',
        'open a kernel on an empty data dir',
        openEmpty,
      ),
    ];
  } finally {
    await kernel?.close();
    rmSync(home, { recursive: true, force: true });
  }
}

/** This bench's section of bench/RESULTS.md. */
export function registeredSection(figures: Figure[], table: (f: Figure[]) => string): string {
  const date = figures[0]?.date ?? new Date().toISOString().slice(0, 10);
  const by = (prefix: string): Figure | undefined => figures.find((f) => f.name.startsWith(prefix));
  const live = by('registered agents: resume a parked JS agent among');
  const reopened = by('registered agents: resume a parked JS agent after');
  const kib = (f: Figure | undefined): string => `${((f?.value ?? 0) / 1024).toFixed(1)} KiB`;
  const verdict =
    live && reopened
      ? `Against the goal (resume ≤ 10 ms p50): ${live.value} ms in the running kernel (a cold spawn: ${live.baseline.value} ms), ${live.value <= 10 ? 'met' : 'not met'}; ${reopened.value} ms for an agent's first message after the kernel reopened (a cold spawn: ${reopened.baseline.value} ms), ${reopened.value <= 10 ? 'met' : 'not met'}. A dormant agent costs ${kib(by('registered agents: anonymous RSS'))} of private memory; most of its RSS is file pages of LMDB's map (${kib(by('registered agents: process RSS per registered'))} in all), which the OS can reclaim.\n`
      : '';
  return `## Registered agents: ${count(REGISTERED)} registered, ${count(RESIDENT)} resident

Measured ${date} on ${machine()}.

${table(figures)}

How each is measured: one kernel (shipped defaults, \`dormantAfterMs: ${DORMANT_AFTER_MS}\`) on a fresh
data dir under /tmp, the JS echo sample (QuickJS, 1.6 MB). One agent is spawned and left to go dormant (the
component compiled), then the process's memory is read (\`process.memoryUsage()\` after three
full collections of the main thread; RSS covers the worker threads, where the instances live, and
/proc/self/status splits it into anonymous memory and mapped file pages, which are LMDB's map of
the data dir) and the data dir's allocated blocks are summed. ${count(REGISTERED)} agents are then
spawned, ${IN_FLIGHT} in flight; each goes dormant once idle ${DORMANT_AFTER_MS} ms (its state kept in LMDB, its
instance dropped), so few are resident at a time. Once all are dormant, memory and disk are read
again: the differences divided by ${count(REGISTERED)} are the per-registered figures. Then, in the
running kernel, ${TIMED} dormant agents are sent one message each (the resume, timed until answered),
in turns with ${TIMED} cold spawns (timed), each pair left to go dormant again before the next. The
kernel is closed and opened again on the same data dir with \`dormantAfterMs: null\` (the open,
timed); memory is read, then agents are made resident one after the other by sending each one
message: ${WARM_RESUMES} resumes and one cold spawn untimed, a ${SETTLE_MS / 1000} s pause (the new workers' V8 tiers
the module up), ${TIMED} resumes in turns with ${TIMED} cold spawns (timed), then resumes until ${count(RESIDENT)} are
resident; memory again: the difference divided by the resident count is the per-resident figure.
The data dir is deleted at the end.

${verdict}`;
}
