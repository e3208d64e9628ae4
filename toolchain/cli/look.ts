/**
 * The commands that look without running anything: `ps`, `journal`, `replay` (in a kernel of its
 * own), `doctor`, and the demo.
 */
import { closeSync, existsSync, openSync, readSync, statSync, writeFileSync } from 'node:fs';
import { stdout } from 'node:process';
import { type Divergence, Kernel } from '../../index.js';
import { AgentOSError } from '../../kernel/base/errors.js';
import { runDemo } from '../demo.js';
import { doctor as check } from '../doctor.js';
import { jsonOut, logLevelFlag, print, usage, wholeFlag } from './args.js';
import { type Command, homeOf, need, withKernel } from './shared.js';

export const ps: Command = (v, p) =>
  withKernel(
    v,
    async (k) => {
      if (p[1] !== undefined) return print(k.inspect(p[1], { disk: true }));
      const all = k.list();
      if (v.json) return print(all);
      for (const a of all) {
        stdout.write(
          `${a.id.padEnd(28)} ${a.world.padEnd(6)} ${a.state.padEnd(10)} ${String(a.stats.invocations).padStart(6)} invocations  ${a.mailbox} queued  ${(a.stats.fuel / 1e6).toFixed(1)} M fuel  ${a.priority}\n`,
        );
      }
    },
    true,
  );

/**
 * `agentos journal <agent-id> [--from N] [--limit N]` prints its records, one JSON line each;
 * `--prune` drops them before its oldest checkpoint instead (docs/snapshots.md) and prints how many,
 * with `--archive FILE` after writing them to that file.
 */
export const journal: Command = (v, p) => {
  const id = need(p, 1, 'the agent id');
  const from = wholeFlag(v.from, '--from');
  const limit = wholeFlag(v.limit, '--limit');
  if (v.archive !== undefined && v.prune !== true) throw usage('--archive goes with --prune');
  if (v.prune === true) {
    const options = v.archive === undefined ? {} : { archive: v.archive };
    return withKernel(v, async (k) => print({ id, ...(await k.pruneJournal(id, options)) }), true);
  }
  return withKernel(
    v,
    async (k) => {
      const replace = (x: unknown) =>
        typeof x === 'bigint' ? `${x}n` : x instanceof Uint8Array ? [...x] : x;
      for (const e of await k.journal(id, { from, limit })) stdout.write(`${jsonOut(e, replace, 0)}\n`);
    },
    true,
  );
};

/** Whether `arg` names a bundle file (`agentos record` wrote it) rather than an agent. */
function isBundle(arg: string): boolean {
  if (!existsSync(arg) || !statSync(arg).isFile()) return false;
  const head = Buffer.alloc(8);
  const fd = openSync(arg, 'r');
  try {
    readSync(fd, head, 0, 8, 0);
  } finally {
    closeSync(fd);
  }
  return head.toString('latin1') === 'AOSBNDL1';
}

const divergedAt = (d: Divergence): string =>
  `invocation ${d.invocation}${d.hostcall === undefined ? '' : `, hostcall ${d.hostcall}`}${d.seq === undefined ? '' : ` (journal #${d.seq})`}: ${d.what}\n  recorded: ${d.expected}\n  replayed: ${d.actual}`;

/**
 * `agentos replay <agent-id> [--from N] [--to M] [--component file.wasm]`, or
 * `agentos replay <file.bundle> [--agents a,b]`: prints the report; a divergence also goes to
 * stderr, and exits 1.
 */
export const replay: Command = async (v, p) => {
  const target = need(p, 1, 'the agent id or a bundle file');
  if (isBundle(target)) {
    const agents = v.agents?.split(',').map((a) => a.trim());
    const report = await Kernel.replayBundle(target, {
      home: homeOf(v),
      logLevel: logLevelFlag(v),
      ...(agents ? { agents } : {}),
    });
    print(report);
    const first = report.agents.find((r) => r.divergence);
    if (first?.divergence)
      throw new AgentOSError(
        'AOS_E_REPLAY_DIVERGED',
        `${first.agent} diverged at ${divergedAt(first.divergence)}`,
        {
          agent: first.agent,
          ...first.divergence,
        },
      );
    return;
  }
  const from = wholeFlag(v.from, '--from');
  const to = wholeFlag(v.to, '--to');
  const options = {
    ...(from === undefined ? {} : { from }),
    ...(to === undefined ? {} : { to }),
    ...(v.component === undefined ? {} : { component: v.component }),
  };
  return withKernel(
    v,
    async (k) => {
      const report = await k.replay(target, options);
      print(report);
      if (report.divergence)
        throw new AgentOSError(
          'AOS_E_REPLAY_DIVERGED',
          `${target} diverged at ${divergedAt(report.divergence)}`,
          {
            ...report.divergence,
          },
        );
    },
    true,
  );
};

/** `agentos record [-o run.bundle] [--agents a,b]`: every agent's run (or those named) in one file. */
export const record: Command = (v) => {
  const out = v.out ?? 'run.bundle';
  const agents = v.agents?.split(',').map((a) => a.trim());
  return withKernel(
    v,
    async (k) => {
      const bytes = await k.record(agents ? { agents } : {});
      writeFileSync(out, bytes);
      print({ bundle: out, bytes: bytes.length });
    },
    true,
  );
};

export const doctor: Command = async (v) => {
  const report = await check(homeOf(v), v.salvage === undefined ? {} : { salvage: v.salvage });
  print(report);
  if (report.healthy) return;
  const saved = report.salvage ? `; what was readable is in ${report.salvage.to}` : '';
  throw new AgentOSError(
    'AOS_E_DATA_DIR',
    `data dir ${report.home} is damaged (${report.problems.length} problems, listed above)${saved}`,
    { home: report.home, problem: 'damaged' },
  );
};

export const demo: Command = (v) => runDemo({ home: homeOf(v), logLevel: logLevelFlag(v) });
