import { closeSync, mkdirSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { open } from 'lmdb';
import { describe, expect, it } from 'vitest';
import { childrenOf, garblePage, treeOf } from '../../testing/damage.js';
import { tempHome } from '../../testing/harness.js';
import { type Meta, PageFile } from './lmdb-pages.js';
import { walkSnapshot } from './lmdb-snapshot.js';

/** An environment lmdb-js wrote: 'small' (many records, two levels), 'big' (overflow values). */
async function written(): Promise<{ home: string; path: string }> {
  const home = tempHome();
  mkdirSync(join(home, 'db'));
  const root = open({ path: join(home, 'db'), maxDbs: 4 });
  const small = root.openDB({ name: 'small' });
  const big = root.openDB({ name: 'big', encoding: 'binary' });
  root.transactionSync(() => {
    for (let i = 0; i < 2000; i++) small.putSync(['agent', i], { i, text: `record ${i}` });
  });
  root.transactionSync(() => {
    for (let i = 0; i < 5; i++) big.putSync(`v${i}`, Buffer.alloc(10_000 + i * 3000, i + 1));
  });
  await root.close();
  return { home, path: join(home, 'db') };
}

function metas(path: string): { pages: (Meta | string)[]; newest: Meta } {
  const file = PageFile.open(join(path, 'data.mdb'));
  try {
    const m = file.metas();
    if (typeof m.newest === 'string') throw new Error(m.newest);
    return { pages: m.pages, newest: m.newest };
  } finally {
    file.close();
  }
}

function patch(path: string, offset: number, bytes: Buffer): void {
  const fd = openSync(join(path, 'data.mdb'), 'r+');
  writeSync(fd, bytes, 0, bytes.length, offset);
  closeSync(fd);
}

function walk(path: string): ReturnType<typeof walkSnapshot> & { got: Map<string, Map<string, Buffer>> } {
  const file = PageFile.open(join(path, 'data.mdb'));
  const got = new Map<string, Map<string, Buffer>>();
  try {
    const { newest } = file.metas();
    if (typeof newest === 'string') throw new Error(newest);
    const r = walkSnapshot(file, newest, {
      onRecord: (db, k, v) => {
        if (!got.has(db)) got.set(db, new Map());
        got.get(db)!.set(k.toString('hex'), v);
      },
    });
    return { ...r, got };
  } finally {
    file.close();
  }
}

describe('reading the data file lmdb-js 3.5.6 writes, without LMDB', () => {
  it('finds both meta pages where LMDB keeps them, alternating with each commit', async () => {
    const { path } = await written();
    const { pages, newest } = metas(path);
    expect(pages.every((p) => typeof p !== 'string')).toBe(true);
    const [a, b] = pages as Meta[];
    expect(Math.abs(a!.txnid - b!.txnid)).toBe(1);
    expect(newest.pageSize).toBe(4096);
    expect(newest.main.entries).toBe(2); // the two named databases
    expect((newest.lastPage + 1) * newest.pageSize).toBe(statSync(join(path, 'data.mdb')).size);
    const root = open({ path, maxDbs: 4 });
    root.transactionSync(() => root.openDB({ name: 'small' }).putSync(['agent', 0], 'again'));
    await root.close();
    const after = metas(path).newest;
    expect(after.txnid).toBe(newest.txnid + 1);
    expect(after.page).toBe(1 - newest.page);
  });

  it('reads every record with the bytes LMDB holds, values on overflow pages included', async () => {
    const { path } = await written();
    const r = walk(path);
    expect(r.errorCount).toBe(0);
    expect(r.databases.map((d) => [d.name, d.entries, d.records])).toEqual([
      ['big', 5, 5],
      ['small', 2000, 2000],
    ]);
    const root = open({ path, maxDbs: 4 });
    for (const name of ['big', 'small']) {
      const db = root.openDB<Buffer, Buffer>({ name, keyEncoding: 'binary', encoding: 'binary' });
      const lmdb = new Map([...db.getRange({})].map(({ key, value }) => [key.toString('hex'), value]));
      expect(r.got.get(name)).toEqual(lmdb);
    }
    await root.close();
  });

  it('reports a page reached twice (a cycle) once, instead of walking it forever', async () => {
    const { home, path } = await written();
    const small = treeOf(home, 'small');
    expect(small.depth).toBe(2);
    const root = small.root!;
    // Point the root's second child back at the root itself.
    const page = readFileSync(join(path, 'data.mdb')).subarray(root * 4096, (root + 1) * 4096);
    const node = 24 + page.readUInt16LE(24 + 2);
    const ptr = Buffer.alloc(6);
    ptr.writeUInt16LE(root & 0xffff, 0);
    ptr.writeUInt16LE(root >>> 16, 2);
    patch(path, root * 4096 + node, ptr);
    expect(childrenOf(home, root)[1]).toBe(root);
    const r = walk(path).databases.find((d) => d.name === 'small')!;
    expect(r.errors.join('\n')).toContain(`page ${root} is reached twice`);
    expect(r.records).toBeLessThan(2000);
  });

  it('reports a value that runs past its page instead of reading past it', async () => {
    const { home, path } = await written();
    const leaf = childrenOf(home, treeOf(home, 'small').root!)[0]!;
    const page = readFileSync(join(path, 'data.mdb')).subarray(leaf * 4096, (leaf + 1) * 4096);
    const node = 24 + page.readUInt16LE(24);
    patch(path, leaf * 4096 + node, Buffer.from([0xff, 0xff, 0x00, 0x00])); // data size 65535, inline
    const r = walk(path).databases.find((d) => d.name === 'small')!;
    expect(r.errors[0]).toContain(`the value of node 0 of page ${leaf} runs past its page`);
    expect(r.records).toBe(1999);
  });

  it('checks leaf headers smallest tree first, up to the budget, and counts the rest', async () => {
    const { home, path } = await written();
    const leaf = childrenOf(home, treeOf(home, 'small').root!)[0]!;
    garblePage(home, leaf);
    const quick = (leafBudget: number) => {
      const file = PageFile.open(join(path, 'data.mdb'));
      try {
        const { newest } = file.metas();
        if (typeof newest === 'string') throw new Error(newest);
        return walkSnapshot(file, newest, { leaves: 'headers', leafBudget });
      } finally {
        file.close();
      }
    };
    const all = quick(Number.POSITIVE_INFINITY);
    expect(all.unchecked).toBe(0);
    expect(all.databases.find((d) => d.name === 'small')?.errors[0]).toContain(`page ${leaf} is garbled`);
    // 'big' is one leaf (its values are on overflow pages); 'small' has many.
    const some = quick(1);
    expect(some.unchecked).toBeGreaterThan(1);
    expect(some.errorCount).toBe(0);
  });
});
