/**
 * Opens a data dir in a process of its own, for the tests that damage one (kernel/store/*.test.ts,
 * toolchain/doctor.test.ts): LMDB on a damaged file can die of SIGBUS or SIGSEGV, which must fail
 * a test, not kill the test runner. Usage: node data-dir-child.js <mode> <home>, where mode is
 *   store   Store.open, then every record of every named database, read through Store.guard;
 *           prints {"ok":true,"records":{"<db>":n}}
 *   kernel  Kernel.open running nothing; prints {"ok":true,"agents":[{"id","mailbox"}]}
 *   kernel-again  as kernel, and after a refusal opens once more in the same process, printing
 *           the second refusal (a refused open must leave the home unlocked)
 *   hold    Store.open (at the time argv[4], ms since the epoch, if given: racing children);
 *           prints {"ok":true,"pid":n} and holds the dir until stdin ends
 * A refusal prints {"ok":false,"code","problem","message"} and exits 2; any other failure exits 1
 * with its stack on stderr.
 */
import { argv, exit, pid, stdin, stdout } from 'node:process';
import { AgentOSError } from '../kernel/base/errors.js';
import { PageFile } from '../kernel/store/lmdb-pages.js';
import { walkSnapshot } from '../kernel/store/lmdb-snapshot.js';
import { Store } from '../kernel/store/store.js';

const [mode, home = '', at] = argv.slice(2);

/** The named databases the file lists (read without LMDB, so opening one never creates it). */
function names(): string[] {
  const file = PageFile.open(`${home}/db/data.mdb`);
  try {
    const { newest } = file.metas();
    const found: string[] = [];
    if (typeof newest !== 'string')
      walkSnapshot(file, newest, { leaves: 'headers', onDatabase: (n) => found.push(n) });
    return found;
  } finally {
    file.close();
  }
}

const untilStdinEnds = (): Promise<void> =>
  new Promise((done) => {
    stdin.resume();
    stdin.on('end', done);
  });

/**
 * A kernel that runs nothing, on the home. Imported when needed: the other modes start quicker
 * without the kernel and the toolchain. The home's agents were spawned from components the dev
 * key signed: restoring them checks that, so it trusts that key.
 */
async function kernelOptions() {
  const { TEST_CACHE_DIR } = await import('./harness.js');
  const { devTrust } = await import('../toolchain/dev-key.js');
  return {
    home,
    cacheDir: TEST_CACHE_DIR,
    workers: 1,
    logLevel: 'silent' as const,
    deliver: false,
    policy: { trust: devTrust() },
  };
}

async function main(): Promise<unknown> {
  if (mode === 'store') {
    const store = await Store.open(home);
    try {
      const records: Record<string, number> = {};
      for (const name of names()) {
        const db = store.db(name, { encoding: 'binary' });
        records[name] = store.guard(`database ${name}`, () => {
          let n = 0;
          for (const _ of db.getRange({})) n++;
          return n;
        });
      }
      return { ok: true, records };
    } finally {
      await store.close();
    }
  }
  if (mode === 'kernel-again') {
    const { Kernel } = await import('../index.js');
    const options = await kernelOptions();
    for (let i = 0; i < 2; i++) {
      try {
        const kernel = await Kernel.open(options);
        await kernel.close();
        return { ok: true };
      } catch (e) {
        if (i === 1) throw e;
      }
    }
  }
  if (mode === 'kernel') {
    const { Kernel } = await import('../index.js');
    const kernel = await Kernel.open(await kernelOptions());
    try {
      return { ok: true, agents: kernel.list().map((a) => ({ id: a.id, mailbox: a.mailbox })) };
    } finally {
      await kernel.close();
    }
  }
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
