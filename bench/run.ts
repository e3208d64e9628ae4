/**
 * `npm run bench`: runs every benchmark and records the figures, each beside its baseline, in
 * bench/RESULTS.md (for people) and bench/results.json (one entry per figure).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stderr } from 'node:process';
import { packageRoot } from '../kernel/paths.js';
import { type Figure, machine } from './measure.js';
import { kernelFigures, loadFigures } from './spine.js';

const log = (s: string): void => {
  stderr.write(`${s}\n`);
};

function table(figures: Figure[]): string {
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

async function main(): Promise<void> {
  const started = new Date();
  log(`machine: ${machine()}`);
  const figures = [...(await loadFigures(log)), ...(await kernelFigures(log))];
  const root = packageRoot();
  writeFileSync(join(root, 'bench', 'results.json'), `${JSON.stringify(figures, null, 2)}\n`);
  const md = `# Benchmark results

Latest run: ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC, \`npm run bench\`.
Machine: ${machine()}.

Every figure is measured beside its baseline in the same run. Times are wall-clock; the two
cores are shared with the OS, so expect ±10–20 % between runs.

## Spine: load, spawn, invoke, hostcalls

${table(figures)}

How each is measured:
- **Loads** use the 12 MB echo agent (SpiderMonkey inside), median of 3. "First" starts with an
  empty transpile cache; "cached" is a new loader (a restarted kernel) on a warm cache.
- **Spawn**: \`kernel.spawn\` with a warm cache, median of 7 — verify, link the grants, instantiate
  in a worker and run \`init\`; the baseline instantiates the same glue on the main thread.
- **Trivial invocation**: \`await kernel.send(id, {text:'hi'})\` — validate, append to the
  durable mailbox, schedule, run \`handle\` in a worker, journal input and outcome, ack, resolve;
  3,000 sequential sends after 500 warm-up. Baseline: \`handle\` on a bare jco instance on the
  main thread.
- **Hostcalls**: an agent loops 20,000 hostcalls inside one \`handle\`; per call = (time with
  20,000 − time with 0) / 20,000, median of 3. Each call crosses to the kernel thread, passes the
  dispatcher (capability check, accounting, span) and is journaled. Baseline: a bare
  SharedArrayBuffer/Atomics round trip from a worker to a main thread waiting with
  \`Atomics.waitAsync\`, the same wake-up path, mean of 20,000.
`;
  writeFileSync(join(root, 'bench', 'RESULTS.md'), md);
  log('wrote bench/RESULTS.md and bench/results.json');
}

await main();
