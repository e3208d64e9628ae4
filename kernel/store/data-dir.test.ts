import { existsSync, mkdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { open } from 'lmdb';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  childrenOf,
  copyHome,
  FILLED,
  fileHashes,
  filledHome,
  garblePage,
  lastPage,
  openInChild,
  pointAtMissingPage,
  treeOf,
  zeroBytes,
} from '../../testing/damage.js';
import { tempHome } from '../../testing/harness.js';
import { FORMAT, MARKER } from './data-dir.js';
import { PageFile } from './lmdb-pages.js';
import { walkSnapshot } from './lmdb-snapshot.js';
import { Store } from './store.js';

let source: string;
let agent: string;

beforeAll(async () => {
  ({ home: source, agent } = await filledHome());
});

const data = (home: string): string => join(home, 'db', 'data.mdb');

/**
 * Opens `home` with a kernel in a child process and expects AOS_E_DATA_DIR with `problem`, no
 * crash, and every file of the home byte-identical afterwards. Returns the message.
 */
async function refused(home: string, problem: string, mode = 'kernel'): Promise<string> {
  const before = fileHashes(home);
  const r = await openInChild(mode, home);
  expect(r.signal, r.stderr).toBeNull();
  expect(r.out, r.stderr).toMatchObject({ ok: false, code: 'AOS_E_DATA_DIR', problem });
  expect(r.code).toBe(2);
  expect(fileHashes(home)).toEqual(before);
  return String(r.out?.message);
}

describe('the data dir is checked before LMDB maps it', () => {
  it('an undamaged copy opens with its agent and queued messages (what the damage tests start from)', async () => {
    const r = await openInChild('kernel', copyHome(source));
    expect(r.out, r.stderr).toEqual({ ok: true, agents: [{ id: agent, mailbox: FILLED.messages }] });
  });

  it('refuses a data.mdb cut short (pages in use past its end), where LMDB died of SIGBUS', async () => {
    const home = copyHome(source);
    truncateSync(data(home), Math.floor((lastPage(home) + 1) / 2) * 4096);
    const message = await refused(home, 'truncated');
    expect(message).toContain('cut short');
    expect(message).toContain(`agentos doctor --home ${home}`);
  });

  it('refuses a data.mdb shorter than its two meta pages', async () => {
    const home = copyHome(source);
    truncateSync(data(home), 5000);
    expect(await refused(home, 'truncated')).toContain('shorter than its two meta pages');
  });

  it('refuses zeroed meta pages, where LMDB died of SIGSEGV', async () => {
    const home = copyHome(source);
    zeroBytes(home, 0, 8192);
    expect(await refused(home, 'meta-page')).toContain('meta page 0 is not marked as a meta page');
  });

  it('refuses meta pages whose contents (not headers) were zeroed, where LMDB died of SIGSEGV', async () => {
    const home = copyHome(source);
    zeroBytes(home, 24, 4096 - 24);
    zeroBytes(home, 4096 + 24, 4096 - 24);
    expect(await refused(home, 'meta-page')).toContain("lacks LMDB's magic number");
  });

  it('refuses one damaged meta page even when the other is intact', async () => {
    const home = copyHome(source);
    zeroBytes(home, 4096 + 24, 64);
    expect(await refused(home, 'meta-page')).toContain('meta page 1');
  });

  it('refuses a garbled root page, which LMDB read as an empty mailbox (messages silently gone)', async () => {
    const home = copyHome(source);
    const mailbox = treeOf(home, 'mailbox');
    expect(mailbox.depth).toBeGreaterThan(1);
    garblePage(home, mailbox.root!);
    expect(await refused(home, 'page')).toContain(`database "mailbox": page ${mailbox.root} is garbled`);
  });

  it('refuses garbled data pages, where LMDB aborted on an assertion', async () => {
    const home = copyHome(source);
    for (let page = 2; page <= lastPage(home); page++) garblePage(home, page);
    expect(await refused(home, 'page')).toContain('is garbled');
  });

  it('refuses a garbled leaf page, which LMDB may take for a leaf and read garbage from', async () => {
    const home = copyHome(source);
    const leaf = childrenOf(home, treeOf(home, 'mailbox').root!)[0]!;
    garblePage(home, leaf);
    expect(await refused(home, 'page')).toContain(`database "mailbox": page ${leaf} is garbled`);
  });

  it("turns LMDB's MDB_PAGE_NOTFOUND from a read after open into AOS_E_DATA_DIR through Store.guard", async () => {
    const home = copyHome(source);
    pointAtMissingPage(home, childrenOf(home, treeOf(home, 'mailbox').root!)[0]!);
    const r = await openInChild('store', home);
    expect(r.signal, r.stderr).toBeNull();
    expect(r.out, r.stderr).toMatchObject({ ok: false, code: 'AOS_E_DATA_DIR', problem: 'lmdb' });
    expect(String(r.out?.message)).toContain('reading database mailbox failed in LMDB: MDB_PAGE_NOTFOUND');
  });

  it('refuses a record LMDB meets only in the kernel’s own first reads, and leaves the home unlocked', async () => {
    const home = copyHome(source);
    pointAtMissingPage(home, childrenOf(home, treeOf(home, 'mailbox').root!)[0]!);
    // The second open in the same process meets the same damage, not a lock left behind.
    const r = await openInChild('kernel-again', home);
    expect(r.signal, r.stderr).toBeNull();
    expect(r.out, r.stderr).toMatchObject({ ok: false, code: 'AOS_E_DATA_DIR', problem: 'lmdb' });
    expect(String(r.out?.message)).toContain('reading the kernel state failed in LMDB: MDB_PAGE_NOTFOUND');
  });

  it('refuses a home whose data.mdb was deleted while components/ is there, making no fresh database', async () => {
    const home = copyHome(source);
    rmSync(data(home));
    rmSync(join(home, MARKER));
    expect(await refused(home, 'database-missing')).toContain(
      'db/data.mdb is missing, but components/ holds 1 file',
    );
    expect(existsSync(data(home))).toBe(false);
  });

  it('refuses a home whose data.mdb was truncated to 0 bytes', async () => {
    const home = copyHome(source);
    truncateSync(data(home), 0);
    expect(await refused(home, 'database-missing')).toContain('db/data.mdb is empty');
  });

  it('refuses a home whose marker says a database was made there, with db/ gone', async () => {
    const home = copyHome(source);
    rmSync(join(home, 'db'), { recursive: true });
    rmSync(join(home, 'components'), { recursive: true });
    expect(await refused(home, 'database-missing')).toContain(`${MARKER} says a database was made here`);
  });

  it('refuses a damaged marker and a marker of another format', async () => {
    const home = copyHome(source);
    writeFileSync(join(home, MARKER), 'not json');
    expect(await refused(home, 'marker')).toContain(`${MARKER} is damaged`);
    writeFileSync(join(home, MARKER), JSON.stringify({ agentos: 'data-dir', format: FORMAT + 1 }));
    expect(await refused(home, 'format')).toContain(`says format ${FORMAT + 1}`);
  });
});

describe('new and older data dirs', () => {
  it('creates a new dir, or fills an empty one, with its database and marker', async () => {
    for (const home of [join(tempHome(), 'new', 'home'), tempHome()]) {
      const store = await Store.open(home);
      await store.close();
      expect(existsSync(data(home))).toBe(true);
      expect(JSON.parse(readFileSync(join(home, MARKER), 'utf8'))).toEqual({
        agentos: 'data-dir',
        format: FORMAT,
      });
      const again = await Store.open(home);
      await again.close();
    }
  });

  it('opens a home an older AgentOS made (no marker) and writes the marker', async () => {
    const home = copyHome(source);
    rmSync(join(home, MARKER));
    const r = await openInChild('kernel', home);
    expect(r.out, r.stderr).toEqual({ ok: true, agents: [{ id: agent, mailbox: FILLED.messages }] });
    expect(existsSync(join(home, MARKER))).toBe(true);
  });

  it('opens a data.mdb that ends early only where its pages are free, and reads every record', async () => {
    const home = tempHome();
    mkdirSync(join(home, 'db'));
    const root = open({ path: join(home, 'db'), maxDbs: 4 });
    const db = root.openDB({ name: 'records' });
    root.transactionSync(() => {
      for (let i = 0; i < 500; i++) db.putSync(`r${i}`, { i, pad: 'p'.repeat(100) });
    });
    // A big value's overflow pages are the file's last; deleting it frees them, and the next
    // write takes the pages it needs from those freed before (the tail stays free).
    root.transactionSync(() => db.putSync('big', 'b'.repeat(200_000)));
    root.transactionSync(() => db.removeSync('big'));
    root.transactionSync(() => db.putSync('r0', { i: 0, pad: 'rewritten' }));
    await root.close();
    const file = PageFile.open(data(home));
    const { newest } = file.metas();
    if (typeof newest === 'string') throw new Error(newest);
    const used = walkSnapshot(file, newest).highest;
    file.close();
    expect(used).toBeLessThan(newest.lastPage);
    truncateSync(data(home), (used + 1) * 4096);
    const r = await openInChild('store', home);
    expect(r.out, r.stderr).toEqual({ ok: true, records: { records: 500 } });
    // One page more, and a page in use is gone.
    truncateSync(data(home), used * 4096);
    await refused(home, 'truncated', 'store');
  });
});
