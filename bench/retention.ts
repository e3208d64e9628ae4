/**
 * Journal retention over a soak: the sample counter agent takes MESSAGES messages on two
 * kernels side by side, one with `retention: 'all'` (the default: every record kept) and one with
 * `retention: 'checkpoints'` (the journal before the oldest kept checkpoint dropped as
 * checkpoints are kept, kernel/exec/retention.ts), both with a checkpoint every CHECKPOINT_EVERY.
 * At each quarter of the run it samples the agent's journal bytes (`inspect(id, { disk: true }).disk.journal`)
 * and the data dir's file size (LMDB's data.mdb, which reuses freed pages and never shrinks):
 * journal bytes per message, and how much each grows over the second half of the soak.
 *
 * Run alone: `node dist/bench/run.js retention` (after `npm run build`).
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { Kernel } from '../index.js';
import { Kernel as KernelWithDefaults } from '../index.js';
import { sample, TEST_CACHE_DIR, tempHome } from '../testing/harness.js';
import { devTrust } from '../toolchain/dev-key.js';
import { type Figure, figure, machine } from './measure.js';

const MESSAGES = 20_000;
const CHECKPOINT_EVERY = 1000;
const CHUNK = 200;

interface Sample {
  messages: number;
  journal: number;
  dataDir: number;
}

interface Soak {
  samples: Sample[];
  ms: number;
}

const dataDirBytes = (home: string): number => statSync(join(home, 'db', 'data.mdb')).size;

async function soak(retention: 'all' | 'checkpoints'): Promise<Soak> {
  const home = tempHome('agentos-bench-retention-');
  const kernel: Kernel = await KernelWithDefaults.open({
    home,
    cacheDir: TEST_CACHE_DIR,
    logLevel: 'silent',
    policy: { trust: devTrust() },
    checkpointEvery: CHECKPOINT_EVERY,
    retention,
  });
  try {
    const id = await kernel.spawn(await sample('counter'), { grants: ['log', 'working-memory'] });
    const samples: Sample[] = [];
    const t0 = performance.now();
    for (let sent = 0; sent < MESSAGES; ) {
      for (let i = 0; i < CHUNK - 1; i++) kernel.post(id, { by: 1 });
      const last = (await kernel.send(id, { by: 1 })) as { count: number };
      sent += CHUNK;
      if (last.count !== sent) throw new Error(`retention bench: count ${last.count} after ${sent} messages`);
      if (sent % (MESSAGES / 4) === 0) {
        await kernel.flushed();
        // The prune after the latest checkpoint runs after a flush of its own.
        await new Promise((r) => setTimeout(r, 50));
        await kernel.flushed();
        samples.push({
          messages: sent,
          journal: kernel.inspect(id, { disk: true }).disk!.journal,
          dataDir: dataDirBytes(home),
        });
      }
    }
    return { samples, ms: performance.now() - t0 };
  } finally {
    await kernel.close();
  }
}

export async function retentionFigures(log: (s: string) => void): Promise<Figure[]> {
  const all = await soak('all');
  const pruned = await soak('checkpoints');
  const end = (s: Soak): Sample => s.samples.at(-1)!;
  const half = (s: Soak): Sample => s.samples[1]!;
  const grew = (s: Soak, k: 'journal' | 'dataDir'): number => end(s)[k] - half(s)[k];
  for (const [what, s] of [
    ['all', all],
    ['checkpoints', pruned],
  ] as const)
    log(
      `retention ${what}: ${s.samples.map((x) => `${x.messages}: journal ${(x.journal / 1e6).toFixed(2)} MB, data dir ${(x.dataDir / 1e6).toFixed(1)} MB`).join('; ')} (${(MESSAGES / (s.ms / 1000)).toFixed(0)} msg/s)`,
    );
  return [
    figure(
      `retention: journal bytes per message to the counter agent, retention 'checkpoints' (checkpoint every ${CHECKPOINT_EVERY}), after ${MESSAGES} messages`,
      end(pruned).journal / MESSAGES,
      'bytes',
      "the same with retention 'all' (every record kept)",
      end(all).journal / MESSAGES,
    ),
    figure(
      `retention: the counter agent's journal growth over the second half of a ${MESSAGES}-message soak, retention 'checkpoints'`,
      Math.max(0, grew(pruned, 'journal')),
      'bytes',
      "the same with retention 'all'",
      grew(all, 'journal'),
    ),
    figure(
      `retention: data dir size (data.mdb) after a ${MESSAGES}-message soak, retention 'checkpoints'`,
      end(pruned).dataDir,
      'bytes',
      "the same with retention 'all'",
      end(all).dataDir,
    ),
    figure(
      `retention: data dir growth over the second half of the soak, retention 'checkpoints'`,
      Math.max(0, grew(pruned, 'dataDir')),
      'bytes',
      "the same with retention 'all'",
      grew(all, 'dataDir'),
    ),
  ];
}

/** Its section of bench/RESULTS.md. */
export function retentionSection(figures: Figure[], table: (f: Figure[]) => string): string {
  const date = figures[0]?.date ?? new Date().toISOString().slice(0, 10);
  return `## Retention: a ${MESSAGES.toLocaleString('en-US')}-message soak, with and without

Measured ${date} on ${machine()}.

${table(figures)}

The sample counter agent (working memory, a log line per message) takes ${MESSAGES.toLocaleString('en-US')} messages on two
kernels side by side, each with a checkpoint every ${CHECKPOINT_EVERY} invocations: \`retention: 'all'\` (every
journal record kept) and \`retention: 'checkpoints'\` (the journal before the oldest kept checkpoint
dropped as checkpoints are kept). Messages go ${CHUNK} at a time (${CHUNK - 1} posted, the last one sent and
its count checked). At each quarter: the agent's journal bytes (\`inspect(id, { disk: true }).disk.journal\`) and
the size of the data dir's db/data.mdb (LMDB reuses freed pages; the file never shrinks). Growth is
from the half-way sample to the end. What data.mdb still gains under \`'checkpoints'\` is not
live data (the agent's journal and its two checkpoints stay the same size): it is LMDB's
high-water mark. Each checkpoint is a value of about 120 KB in contiguous overflow pages, and the
runs of pages freed by the ones it replaces do not always fit the next one.
`;
}
