#!/usr/bin/env node
/**
 * The `agentos` command line. Results go to stdout (JSON where a program may read them); errors
 * go to stderr as `AOS_E_...: sentence`, with a non-zero exit code (1 for a kernel error, 2 for
 * bad usage: AOS_E_BAD_ARGUMENT). Flags are parsed and checked in toolchain/cli-args.ts.
 *
 *   agentos build components/echo/index.ts --world agent -o /tmp/echo.wasm
 *   agentos inspect /tmp/echo.wasm
 *   agentos run /tmp/echo.wasm --grant log,clock --message '{"text":"hi"}'
 *   agentos send echo-1a2b3c --message @body.json      (or --message - to read stdin)
 */
import { writeFile } from 'node:fs/promises';
import { argv, env, exit, stderr, stdout } from 'node:process';
import { Kernel } from '../index.js';
import { AgentOSError } from '../kernel/errors.js';
import { instrumentInThread } from '../kernel/fuel/thread.js';
import { inspectComponent, readComponent } from '../kernel/loader.js';
import { buildComponent } from './build.js';
import {
  grantFlags,
  jsonFlag,
  jsonOut,
  logLevelFlag,
  parseFlags,
  print,
  seedFlag,
  settingsFlags,
  usage,
  type Values,
  wholeFlag,
} from './cli-args.js';
import { runDemo } from './demo.js';
import { doctor } from './doctor.js';

const USAGE = `agentos — a microkernel for AI agents as WebAssembly components

Usage:
  agentos build <source.ts|js> --world agent|skill -o <out.wasm>
  agentos inspect <component.wasm> [--json]
  agentos run <component.wasm> [--grant a,b] [--config JSON] [--message JSON] [--kind K]
                                [--tool NAME --args JSON]      (skills: without --tool, lists tools)
  agentos spawn <component.wasm> [--grant a,b] [--config JSON] [--name N] [--seed N]
                                [--limits JSON] [--priority P] [--weight W]   (also on run)
  agentos configure <agent-id> [--limits JSON] [--priority P] [--weight W]
  agentos send <agent-id> --message JSON [--kind K] [--timeout MS]
  agentos ps [<agent-id>] [--json]
  agentos journal <agent-id> [--from N] [--limit N]
  agentos suspend|resume|terminate <agent-id>
  agentos meter <core.wasm> -o <out.wasm>     (the fuel pass on one core module, with stats;
                                              a module it already metered is refused)
  agentos doctor [--salvage OUT]              (checks the data dir; copies what is readable to OUT)
  agentos demo

Limits JSON: {"fuel":{"invocation":N,"perSecond":N,"lifetime":N},"memoryBytes":N,
  "deadlineMs":N,"mailbox":N,"hostcallsPerSecond":{"log":N}}; priority: interactive, normal,
  batch or idle. A JSON flag (--message, --config, --args, --limits) also takes @FILE, or -
  for stdin. Each flag but --grant is given at most once.

Every command takes --home DIR (default $AGENTOS_HOME, else ./.agentos) and --log-level LEVEL.`;

function need(positionals: string[], i: number, what: string): string {
  const p = positionals[i];
  if (p === undefined) throw usage(`missing ${what}\n\n${USAGE}`);
  return p;
}

/** Opens the kernel for one command. `look`: to read only, running no agent. */
async function withKernel<T>(v: Values, f: (k: Kernel) => Promise<T>, look = false): Promise<T> {
  const kernel = await Kernel.open({
    home: v.home ?? env.AGENTOS_HOME ?? './.agentos',
    logLevel: logLevelFlag(v),
    deliver: !look,
    onProgress: (m) => stderr.write(`${m}\n`),
  });
  try {
    return await f(kernel);
  } finally {
    await kernel.close();
  }
}

async function main(): Promise<void> {
  const { values: v, positionals: p } = parseFlags(argv.slice(2), USAGE);
  const command = p[0];
  if (v.help || command === undefined || command === 'help') {
    stdout.write(`${USAGE}\n`);
    return;
  }
  switch (command) {
    case 'build': {
      const world = v.world ?? 'agent';
      if (world !== 'agent' && world !== 'skill') throw usage('--world must be agent or skill');
      if (!v.out) throw usage('build needs -o <out.wasm>');
      const r = await buildComponent(need(p, 1, 'the source file'), { world, out: v.out });
      return print(r);
    }
    case 'inspect': {
      const path = need(p, 1, 'the component file');
      const info = await inspectComponent(await readComponent(path), path);
      if (v.json) return print(info);
      const { wit: _wit, ...rest } = info;
      return print({
        file: path,
        sha256: rest.digest,
        size: rest.size,
        world: rest.world,
        imports: rest.imports,
        exports: rest.exports,
        ...(rest.exportProblems.length > 0 ? { exportProblems: rest.exportProblems } : {}),
      });
    }
    case 'run': {
      const path = need(p, 1, 'the component file');
      // Every flag is read and checked before the kernel opens.
      const options = {
        grants: grantFlags(v),
        config: (await jsonFlag(v.config, '--config')) ?? {},
        name: v.name,
        ...(await settingsFlags(v)),
      };
      const message = (await jsonFlag(v.message, '--message')) ?? {};
      const args = (await jsonFlag(v.args, '--args')) ?? {};
      return withKernel(v, async (k) => {
        const id = await k.spawn(path, options);
        try {
          const world = k.inspect(id).world;
          if (world === 'skill') {
            if (v.tool === undefined) return print(await k.describe(id));
            return print(await k.invoke(id, v.tool, args));
          }
          return print(await k.send(id, message, { kind: v.kind ?? 'text' }));
        } finally {
          await k.terminate(id);
        }
      });
    }
    case 'spawn': {
      const path = need(p, 1, 'the component file');
      const options = {
        grants: grantFlags(v),
        config: (await jsonFlag(v.config, '--config')) ?? {},
        name: v.name,
        seed: seedFlag(v.seed),
        ...(await settingsFlags(v)),
      };
      return withKernel(v, async (k) => print({ id: await k.spawn(path, options) }));
    }
    case 'configure': {
      const id = need(p, 1, 'the agent id');
      const settings = await settingsFlags(v);
      return withKernel(v, async (k) => {
        const info = k.configure(id, settings);
        print({ id, limits: info.limits, priority: info.priority, weight: info.weight });
      });
    }
    case 'meter': {
      const path = need(p, 1, 'the core module');
      if (!v.out) throw usage('meter needs -o <out.wasm>');
      const bytes = await readComponent(path);
      const r = await instrumentInThread(bytes, path, (phase) => stderr.write(`${phase}…\n`));
      await writeFile(v.out, r.bytes);
      return print({ out: v.out, size: r.bytes.length, ...r.stats });
    }
    case 'send': {
      const id = need(p, 1, 'the agent id');
      if (v.message === undefined) throw usage('send needs --message JSON');
      const message = await jsonFlag(v.message, '--message');
      const timeoutMs = wholeFlag(v.timeout, '--timeout', 1);
      return withKernel(v, async (k) =>
        print(await k.send(id, message, { kind: v.kind ?? 'text', timeoutMs })),
      );
    }
    case 'ps':
      return withKernel(
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
    case 'journal': {
      const id = need(p, 1, 'the agent id');
      const from = wholeFlag(v.from, '--from');
      const limit = wholeFlag(v.limit, '--limit');
      return withKernel(
        v,
        async (k) => {
          for (const e of await k.journal(id, { from, limit })) {
            const replace = (x: unknown) =>
              typeof x === 'bigint' ? `${x}n` : x instanceof Uint8Array ? [...x] : x;
            stdout.write(`${jsonOut(e, replace, 0)}\n`);
          }
        },
        true,
      );
    }
    case 'suspend':
    case 'resume':
    case 'terminate': {
      const id = need(p, 1, 'the agent id');
      return withKernel(
        v,
        async (k) => {
          if (command === 'suspend') k.suspend(id);
          else if (command === 'resume') k.resume(id);
          else await k.terminate(id);
          print({ id, state: k.inspect(id).state });
        },
        true,
      );
    }
    case 'doctor': {
      const home = v.home ?? env.AGENTOS_HOME ?? './.agentos';
      const report = await doctor(home, v.salvage === undefined ? {} : { salvage: v.salvage });
      print(report);
      if (report.healthy) return;
      const saved = report.salvage ? `; what was readable is in ${report.salvage.to}` : '';
      throw new AgentOSError(
        'AOS_E_DATA_DIR',
        `data dir ${report.home} is damaged (${report.problems.length} problems, listed above)${saved}`,
        { home: report.home, problem: 'damaged' },
      );
    }
    case 'demo':
      return runDemo({
        home: v.home ?? env.AGENTOS_HOME ?? './.agentos',
        logLevel: logLevelFlag(v),
      });
    default:
      throw usage(`unknown command "${command}"\n\n${USAGE}`);
  }
}

/** Exits once stdout and stderr have taken everything written: a pipe may still hold a large result. */
function exitFlushed(code: number): void {
  stdout.write('', () => stderr.write('', () => exit(code)));
}

main().then(
  () => exitFlushed(0),
  (e: unknown) => {
    if (e instanceof AgentOSError) {
      stderr.write(`${e.code}: ${e.message}\n`);
      return exitFlushed(e.code === 'AOS_E_BAD_ARGUMENT' ? 2 : 1);
    }
    stderr.write(`AOS_E_INTERNAL: ${(e as Error)?.stack ?? String(e)}\n`);
    exitFlushed(1);
  },
);
