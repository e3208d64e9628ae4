/**
 * The commands that look without running anything: `ps`, `journal`, `replay` (in a kernel of its
 * own), `doctor`, and the demo.
 */
import { stdout } from 'node:process';
import { AgentOSError } from '../../kernel/base/errors.js';
import { runDemo } from '../demo.js';
import { doctor as check } from '../doctor.js';
import { jsonOut, logLevelFlag, print, wholeFlag } from './args.js';
import { type Command, homeOf, need, withKernel } from './shared.js';

export const ps: Command = (v, p) =>
  withKernel(
    v,
    async (k) => {
      if (p[1] !== undefined) return print(k.inspect(p[1]));
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

export const journal: Command = (v, p) => {
  const id = need(p, 1, 'the agent id');
  const from = wholeFlag(v.from, '--from');
  const limit = wholeFlag(v.limit, '--limit');
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

/**
 * `agentos replay <agent-id> [--from N] [--to M] [--component file.wasm]`: prints the report;
 * a divergence also goes to stderr, and exits 1.
 */
export const replay: Command = (v, p) => {
  const id = need(p, 1, 'the agent id');
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
      const report = await k.replay(id, options);
      print(report);
      const d = report.divergence;
      if (!d) return;
      const where = `invocation ${d.invocation}${d.hostcall === undefined ? '' : `, hostcall ${d.hostcall}`}${d.seq === undefined ? '' : ` (journal #${d.seq})`}`;
      throw new AgentOSError(
        'AOS_E_REPLAY_DIVERGED',
        `${id} diverged at ${where}: ${d.what}\n  recorded: ${d.expected}\n  replayed: ${d.actual}`,
        { ...d },
      );
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
