#!/usr/bin/env node
/**
 * The `agentos` command line. Results go to stdout (JSON where a program may read them); errors
 * go to stderr as `AOS_E_...: sentence`, with a non-zero exit code (1 for a kernel error, 2 for
 * bad usage).
 *
 *   agentos build components/echo/index.ts --world agent -o /tmp/echo.wasm
 *   agentos inspect /tmp/echo.wasm
 *   agentos run /tmp/echo.wasm --grant log,clock --message '{"text":"hi"}'
 */
import { readFile, writeFile } from 'node:fs/promises';
import { argv, env, exit, stderr, stdout } from 'node:process';
import { parseArgs } from 'node:util';
import { AgentOSError } from '../kernel/errors.js';
import { Kernel, type SpawnOptions } from '../kernel/kernel.js';
import { inspectComponent } from '../kernel/loader.js';
import { buildComponent } from './build.js';
import { runDemo } from './demo.js';
import { doctor } from './doctor.js';
import { instrumentInThread } from './fuel/thread.js';

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
  agentos meter <core.wasm> -o <out.wasm>     (the fuel pass on one core module, with stats)
  agentos doctor [--salvage OUT]              (checks the data dir; copies what is readable to OUT)
  agentos demo

Limits JSON: {"fuel":{"invocation":N,"perSecond":N,"lifetime":N},"memoryBytes":N,
  "deadlineMs":N,"mailbox":N,"hostcallsPerSecond":{"log":N}}; priority: interactive, normal,
  batch or idle.

Every command takes --home DIR (default $AGENTOS_HOME, else ./.agentos) and --log-level LEVEL.`;

const OPTIONS = {
  home: { type: 'string' },
  'log-level': { type: 'string' },
  world: { type: 'string' },
  out: { type: 'string', short: 'o' },
  grant: { type: 'string', multiple: true },
  config: { type: 'string' },
  message: { type: 'string' },
  kind: { type: 'string' },
  tool: { type: 'string' },
  args: { type: 'string' },
  name: { type: 'string' },
  seed: { type: 'string' },
  from: { type: 'string' },
  limit: { type: 'string' },
  timeout: { type: 'string' },
  limits: { type: 'string' },
  priority: { type: 'string' },
  weight: { type: 'string' },
  json: { type: 'boolean' },
  salvage: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

function json(text: string | undefined, what: string): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new AgentOSError('AOS_E_BAD_ARGUMENT', `${what} is not valid JSON: ${(e as Error).message}`);
  }
}

function int(text: string | undefined, what: string): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0)
    throw new AgentOSError('AOS_E_BAD_ARGUMENT', `${what} must be a whole number`);
  return n;
}

/** Limits, priority and weight from the command line; checked by the kernel like the API's. */
function settings(v: Values): Pick<SpawnOptions, 'limits' | 'priority' | 'weight'> {
  return {
    ...(v.limits === undefined ? {} : { limits: json(v.limits, '--limits') as SpawnOptions['limits'] }),
    ...(v.priority === undefined ? {} : { priority: v.priority as SpawnOptions['priority'] }),
    ...(v.weight === undefined ? {} : { weight: Number(v.weight) }),
  };
}

const grants = (v: Values): string[] => (v.grant ?? []).flatMap((g) => g.split(',')).filter((g) => g !== '');

function need(positionals: string[], i: number, what: string): string {
  const p = positionals[i];
  if (p === undefined) throw new AgentOSError('AOS_E_BAD_ARGUMENT', `missing ${what}\n\n${USAGE}`);
  return p;
}

const print = (value: unknown): void => {
  stdout.write(`${JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 2)}\n`);
};

/** Opens the kernel for one command. `look`: to read only, running no agent. */
async function withKernel<T>(v: Values, f: (k: Kernel) => Promise<T>, look = false): Promise<T> {
  const kernel = await Kernel.open({
    home: v.home ?? env.AGENTOS_HOME ?? './.agentos',
    logLevel: v['log-level'] ?? 'warn',
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
  let parsed: { values: Values; positionals: string[] };
  try {
    parsed = parseArgs({ args: argv.slice(2), options: OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    throw new AgentOSError('AOS_E_BAD_ARGUMENT', `${(e as Error).message}\n\n${USAGE}`);
  }
  const { values: v, positionals: p } = parsed;
  const command = p[0];
  if (v.help || command === undefined || command === 'help') {
    stdout.write(`${USAGE}\n`);
    return;
  }
  switch (command) {
    case 'build': {
      const world = v.world ?? 'agent';
      if (world !== 'agent' && world !== 'skill')
        throw new AgentOSError('AOS_E_BAD_ARGUMENT', '--world must be agent or skill');
      if (!v.out) throw new AgentOSError('AOS_E_BAD_ARGUMENT', 'build needs -o <out.wasm>');
      const r = await buildComponent(need(p, 1, 'the source file'), { world, out: v.out });
      return print(r);
    }
    case 'inspect': {
      const path = need(p, 1, 'the component file');
      let bytes: Uint8Array;
      try {
        bytes = await readFile(path);
      } catch (e) {
        throw new AgentOSError('AOS_E_COMPONENT_NOT_FOUND', `cannot read ${path}: ${(e as Error).message}`);
      }
      const info = await inspectComponent(bytes, path);
      if (v.json) return print(info);
      const { wit: _wit, ...rest } = info;
      return print({
        file: path,
        sha256: rest.digest,
        size: rest.size,
        world: rest.world,
        imports: rest.imports,
        exports: rest.exports,
      });
    }
    case 'run': {
      const path = need(p, 1, 'the component file');
      return withKernel(v, async (k) => {
        const id = await k.spawn(path, {
          grants: grants(v),
          config: json(v.config, '--config') ?? {},
          name: v.name,
          ...settings(v),
        });
        try {
          const world = k.inspect(id).world;
          if (world === 'skill') {
            if (v.tool === undefined) return print(await k.describe(id));
            return print(await k.invoke(id, v.tool, json(v.args, '--args') ?? {}));
          }
          const message = v.message === undefined ? {} : json(v.message, '--message');
          return print(await k.send(id, message, { kind: v.kind ?? 'text' }));
        } finally {
          await k.terminate(id);
        }
      });
    }
    case 'spawn': {
      const path = need(p, 1, 'the component file');
      return withKernel(v, async (k) => {
        const opts = {
          grants: grants(v),
          config: json(v.config, '--config') ?? {},
          name: v.name,
          seed: v.seed,
          ...settings(v),
        };
        print({ id: await k.spawn(path, opts) });
      });
    }
    case 'configure': {
      const id = need(p, 1, 'the agent id');
      return withKernel(v, async (k) => {
        const info = k.configure(id, settings(v));
        print({ id, limits: info.limits, priority: info.priority, weight: info.weight });
      });
    }
    case 'meter': {
      const path = need(p, 1, 'the core module');
      if (!v.out) throw new AgentOSError('AOS_E_BAD_ARGUMENT', 'meter needs -o <out.wasm>');
      let bytes: Uint8Array;
      try {
        bytes = await readFile(path);
      } catch (e) {
        throw new AgentOSError('AOS_E_COMPONENT_NOT_FOUND', `cannot read ${path}: ${(e as Error).message}`);
      }
      const r = await instrumentInThread(bytes, path, (phase) => stderr.write(`${phase}…\n`));
      await writeFile(v.out, r.bytes);
      return print({ out: v.out, size: r.bytes.length, ...r.stats });
    }
    case 'send': {
      const id = need(p, 1, 'the agent id');
      if (v.message === undefined) throw new AgentOSError('AOS_E_BAD_ARGUMENT', 'send needs --message JSON');
      const message = json(v.message, '--message');
      const timeoutMs = int(v.timeout, '--timeout');
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
      const from = int(v.from, '--from');
      const limit = int(v.limit, '--limit');
      return withKernel(
        v,
        async (k) => {
          for (const e of await k.journal(id, { from, limit })) {
            stdout.write(
              `${JSON.stringify(e, (_k, x) => (typeof x === 'bigint' ? `${x}n` : x instanceof Uint8Array ? [...x] : x))}\n`,
            );
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
        logLevel: v['log-level'] ?? 'warn',
      });
    default:
      throw new AgentOSError('AOS_E_BAD_ARGUMENT', `unknown command "${command}"\n\n${USAGE}`);
  }
}

main().then(
  () => exit(0),
  (e: unknown) => {
    if (e instanceof AgentOSError) {
      stderr.write(`${e.code}: ${e.message}\n`);
      exit(e.code === 'AOS_E_BAD_ARGUMENT' ? 2 : 1);
    }
    stderr.write(`AOS_E_INTERNAL: ${(e as Error)?.stack ?? String(e)}\n`);
    exit(1);
  },
);
