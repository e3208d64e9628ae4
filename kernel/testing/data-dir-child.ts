/**
 * Opens a data dir in a process of its own, for the tests of the lock (kernel/store/lock.test.ts).
 * Usage: node data-dir-child.js <mode> <home>, where mode is
 *   hold    Store.open (at the time argv[4], ms since the epoch, if given: racing children);
 *           prints {"ok":true,"pid":n} and holds the dir until stdin ends
 * A refusal prints {"ok":false,"code","problem","message"} and exits 2; any other failure exits 1
 * with its stack on stderr.
 */
import { argv, exit, pid, stdin, stdout } from 'node:process';
import { AgentOSError } from '../errors.js';
import { Store } from '../store/store.js';

const [mode, home = '', at] = argv.slice(2);

const untilStdinEnds = (): Promise<void> =>
  new Promise((done) => {
    stdin.resume();
    stdin.on('end', done);
  });

async function main(): Promise<unknown> {
  if (mode === 'hold') {
    if (at !== undefined) {
      // Sleep, then spin the last moment, so racing children start as close together as can be.
      await new Promise((r) => setTimeout(r, Math.max(0, Number(at) - Date.now() - 20)));
      while (Date.now() < Number(at));
    }
    const store = await Store.open(home);
    stdout.write(`${JSON.stringify({ ok: true, pid })}\n`);
    await untilStdinEnds();
    await store.close();
    return undefined;
  }
  throw new Error(`unknown mode ${mode}`);
}

main().then(
  (out) => {
    if (out !== undefined) stdout.write(`${JSON.stringify(out)}\n`);
    exit(0);
  },
  (e: unknown) => {
    if (e instanceof AgentOSError) {
      stdout.write(
        `${JSON.stringify({ ok: false, code: e.code, problem: e.details.problem, message: e.message })}\n`,
      );
      exit(2);
    }
    console.error((e as Error)?.stack ?? String(e));
    exit(1);
  },
);
