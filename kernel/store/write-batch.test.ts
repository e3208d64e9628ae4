import type { Database } from 'lmdb';
import { afterEach, describe, expect, it } from 'vitest';
import { tempHome } from '../../testing/harness.js';
import { Store } from './store.js';
import { FLUSH_MS } from './write-batch.js';

let store: Store | undefined;
afterEach(async () => {
  await store?.close();
  store = undefined;
});

type Db = Database<Uint8Array, [string, number]>;
const bytes = (n: number): Uint8Array => new Uint8Array([n]);

describe('WriteBatch', () => {
  it('applies puts and removes in the order they were queued, after at most FLUSH_MS', async () => {
    store = await Store.open(tempHome());
    const db = store.db('t', { encoding: 'binary' }) as unknown as Db;
    store.batch.put(db, ['a', 1], bytes(1));
    store.batch.put(db, ['a', 2], bytes(2));
    store.batch.remove(db, ['a', 1]);
    store.batch.put(db, ['a', 1], bytes(3));
    expect(db.get(['a', 1])).toBeUndefined(); // not handed to LMDB yet
    await new Promise((r) => setTimeout(r, FLUSH_MS + 20));
    await db.flushed;
    expect([...db.getRange({})].map((e) => [e.key, [...e.value]])).toEqual([
      [['a', 1], [3]],
      [['a', 2], [2]],
    ]);
  });

  it('hands everything over at once on Store.flushed(), across databases', async () => {
    store = await Store.open(tempHome());
    const a = store.db('a', { encoding: 'binary' }) as unknown as Db;
    const b = store.db('b', { encoding: 'binary' }) as unknown as Db;
    for (let i = 0; i < 3000; i++) store.batch.put(i % 2 ? a : b, ['k', i], bytes(i % 256));
    await store.flushed();
    expect(a.getCount()).toBe(1500);
    expect(b.getCount()).toBe(1500);
  });

  it('calls afterCommit callbacks once the batch is committed', async () => {
    store = await Store.open(tempHome());
    const db = store.db('t', { encoding: 'binary' }) as unknown as Db;
    store.batch.put(db, ['c', 1], bytes(1));
    const seen: unknown[] = [];
    await new Promise<void>((resolve) => {
      store!.batch.afterCommit(() => {
        seen.push(db.get(['c', 1]));
        resolve();
      });
    });
    expect(seen.map((v) => [...(v as Uint8Array)])).toEqual([[1]]);
  });

  it('survives a reopen: what was flushed is on disk', async () => {
    const home = tempHome();
    store = await Store.open(home);
    store.batch.put(store.db('t', { encoding: 'binary' }) as unknown as Db, ['x', 7], bytes(7));
    await store.close();
    store = await Store.open(home);
    expect([...((store.db('t', { encoding: 'binary' }) as unknown as Db).get(['x', 7]) ?? [])]).toEqual([7]);
  });

  it('withdraws a put still queued, and only then: a flushed put stays', async () => {
    store = await Store.open(tempHome());
    const db = store.db('w', { encoding: 'binary' }) as unknown as Db;
    let encoded = 0;
    const value = (n: number) => () => {
      encoded++;
      return bytes(n);
    };
    const early = store.batch.putWithdrawable(db, ['w', 1], value(1));
    const kept = store.batch.putWithdrawable(db, ['w', 2], value(2));
    expect(early.withdraw()).toBe(true);
    expect(early.withdraw()).toBe(false); // once
    await store.flushed();
    expect(kept.withdraw()).toBe(false); // flushed: the caller must remove it instead
    expect(encoded).toBe(1); // a withdrawn put is never encoded
    expect([...db.getKeys({})]).toEqual([['w', 2]]);
  });

  it('lets a registered writer queue its own writes into the flush that begins', async () => {
    store = await Store.open(tempHome());
    const db = store.db('d', { encoding: 'binary' }) as unknown as Db;
    const mine: number[] = [];
    store.batch.beforeFlush(() => {
      for (const n of mine.splice(0)) store!.batch.put(db, ['d', n], bytes(n));
    });
    mine.push(1, 2);
    store.batch.deferred();
    store.batch.deferred();
    await new Promise((r) => setTimeout(r, FLUSH_MS + 20)); // deferred() armed the timer
    await db.flushed;
    expect([...db.getKeys({})]).toEqual([
      ['d', 1],
      ['d', 2],
    ]);
    // A writer flushing past FLUSH_OPS does not start a nested flush.
    for (let i = 0; i < 3000; i++) mine.push(100 + i);
    await store.flushed();
    expect(db.getCount()).toBe(3002);
  });

  it('writes the rest of a batch when a value fails to encode at flush, and says so', async () => {
    store = await Store.open(tempHome());
    const db = store.db('e', { encoding: 'binary' }) as unknown as Db;
    const errors: string[] = [];
    store.batch.onError = (_e, what) => errors.push(what);
    store.batch.putWithdrawable(db, ['e', 1], () => {
      throw new Error('cannot encode');
    });
    store.batch.put(db, ['e', 2], bytes(2));
    await store.flushed();
    expect(errors).toEqual(['a queued write']);
    expect([...db.getKeys({})]).toEqual([['e', 2]]);
  });
});
