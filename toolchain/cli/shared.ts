/**
 * What the commands share: the usage text, a positional argument that must be there, and the
 * kernel opened for one command.
 */
import { env, stderr } from 'node:process';
import { Kernel } from '../../index.js';
import { logLevelFlag, usage, type Values } from './args.js';

export const USAGE = `agentos — a microkernel for AI agents as WebAssembly components

Usage:
  agentos build <source.ts|js> -o <out.wasm> [--manifest agentos.json] [--world agent|skill]
                [--engine quickjs|spidermonkey]   (default quickjs: docs/components.md)
  agentos inspect <component.wasm> [--json]   (world, imports, exports, manifest, signatures)
  agentos keygen -o <file.key>                (an Ed25519 key, 0600, and <file.key>.pub)
  agentos sign <component.wasm> --key <file.key> [-o <out.wasm>]
  agentos verify <component.wasm> --key <file.pub|ed25519:…> | --trust
  agentos trust add <publisher> <file.pub|ed25519:…> [--expires DATE] [--capabilities a,b]
  agentos trust list | agentos trust revoke <publisher> [<key-id>]
  agentos install|update <component.wasm> [--force]   (into the catalog; update makes it current)
  agentos rollback <name> | agentos uninstall <name>[@version]
  agentos installed | agentos search [words] [--name N] [--capability C]
  agentos publish <component.wasm> --registry URL [--force]   (as publisher/name:version)
  agentos pull <publisher/name:version> --registry URL         (verified, then installed)
  agentos published <publisher/name> --registry URL            (its versions)
    URL: http://host:port (an OCI registry) or file:<dir> (OCI image layouts, offline)
  run and spawn take an installed name in place of a file: text-stats, text-stats@^1.2
  agentos run <component.wasm> [--grant a,b] [--config JSON] [--message JSON] [--kind K]
                                [--tool NAME --args JSON]      (skills: without --tool, lists tools)
  agentos spawn <component.wasm> [--grant a,b] [--config JSON] [--name N] [--seed N]
                                [--limits JSON] [--priority P] [--weight W]   (also on run)
  agentos configure <agent-id> [--limits JSON] [--priority P] [--weight W]
  agentos send <agent-id> --message JSON [--kind K] [--timeout MS]
  agentos ps [<agent-id>] [--json]
  agentos journal <agent-id> [--from N] [--limit N]
  agentos journal <agent-id> --prune [--archive FILE]
                                (drops its journal before its oldest checkpoint; --archive: into FILE first)
  agentos replay <agent-id> [--from N] [--to M] [--component file.wasm]
                                (re-runs it from its journal in a kernel of its own; exit 1 on divergence)
  agentos record [-o run.bundle] [--agents a,b]   (every agent's run, or those named, in one file)
  agentos replay <run.bundle> [--agents a,b]      (replays a recorded run here, from the file alone)
  agentos suspend|resume|terminate <agent-id>
  agentos fork <agent-id> [--name N]          (a new agent from where that one is)
  agentos export <agent-id> [-o agent.bundle]   (moves it into one file; it stops running here)
  agentos import <agent.bundle>               (it continues in this data dir, with its id)
  agentos upgrade <agent-id> [name@range | file.wasm] [--force]
                                (onto the current version, or the one named, if its run replays the same)
  agentos meter <core.wasm> -o <out.wasm>     (the fuel pass on one core module, with stats;
                                              a module it already metered is refused)
  agentos doctor [--salvage OUT]              (checks the data dir; copies what is readable to OUT)
  agentos demo

Limits JSON: {"fuel":{"invocation":N,"perSecond":N,"lifetime":N},"memoryBytes":N,
  "deadlineMs":N,"mailbox":N,"hostcallsPerSecond":{"log":N}}; priority: interactive, normal,
  batch or idle. A JSON flag (--message, --config, --args, --limits) also takes @FILE, or -
  for stdin. Each flag but --grant is given at most once.

Every command takes --home DIR (default $AGENTOS_HOME, else ./.agentos) and --log-level LEVEL.`;

/** A command: the flags and the positionals (the command's name first). */
export type Command = (v: Values, p: string[]) => Promise<void>;

/** The data dir a command works on. */
export const homeOf = (v: Values): string => v.home ?? env.AGENTOS_HOME ?? './.agentos';

/** Positional `i`, or a usage error naming `what`. */
export function need(positionals: string[], i: number, what: string): string {
  const p = positionals[i];
  if (p === undefined) throw usage(`missing ${what}\n\n${USAGE}`);
  return p;
}

/** Opens the kernel for one command. `look`: to read only, running no agent. */
export async function withKernel<T>(v: Values, f: (k: Kernel) => Promise<T>, look = false): Promise<T> {
  const kernel = await Kernel.open({
    home: homeOf(v),
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
