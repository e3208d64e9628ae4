#!/usr/bin/env node
/**
 * The `agentos` command line: parses the flags (args.ts) and runs the command, one file per
 * group beside it. Results go to stdout (JSON where a program may read them); errors go to
 * stderr as `AOS_E_...: sentence`, with a non-zero exit code (1 for a kernel error, 2 for bad
 * usage: AOS_E_BAD_ARGUMENT).
 *
 *   agentos build components/echo/index.ts -o /tmp/echo.wasm     (agentos.json beside it)
 *   agentos sign /tmp/echo.wasm --key dev.key
 *   agentos inspect /tmp/echo.wasm
 *   agentos run /tmp/echo.wasm --grant log,clock --message '{"text":"hi"}'
 *   agentos send echo-1a2b3c --message @body.json      (or --message - to read stdin)
 */
import { argv, exit, stderr, stdout } from 'node:process';
import { AgentOSError } from '../../kernel/base/errors.js';
import { configure, exportAgent, fork, importAgent, lifecycle, run, send, spawn, upgrade } from './agents.js';
import { parseFlags, usage } from './args.js';
import {
  install,
  installed,
  publish,
  published,
  pull,
  rollback,
  search,
  uninstall,
  update,
} from './catalog.js';
import { build, inspect, meter } from './components.js';
import { demo, doctor, journal, ps, record, replay } from './look.js';
import { type Command, USAGE } from './shared.js';
import { keygen, sign, trust, verify } from './signing.js';

const COMMANDS: Readonly<Record<string, Command>> = {
  build,
  inspect,
  meter,
  run,
  spawn,
  configure,
  send,
  suspend: lifecycle,
  resume: lifecycle,
  terminate: lifecycle,
  upgrade,
  fork,
  export: exportAgent,
  import: importAgent,
  ps,
  journal,
  replay,
  record,
  doctor,
  demo,
  keygen,
  sign,
  verify,
  trust,
  install,
  update,
  rollback,
  uninstall,
  installed,
  search,
  publish,
  published,
  pull,
};

async function main(): Promise<void> {
  const { values, positionals } = parseFlags(argv.slice(2), USAGE);
  const name = positionals[0];
  if (values.help || name === undefined || name === 'help') {
    stdout.write(`${USAGE}\n`);
    return;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!command) throw usage(`unknown command "${name}"\n\n${USAGE}`);
  await command(values, positionals);
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
