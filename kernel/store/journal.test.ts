import { afterEach, describe, expect, it } from 'vitest';
import { tempHome } from '../../testing/harness.js';
import { GROUP_BYTES, Journal, type JournalRecord } from './journal.js';
import { Store } from './store.js';

let store: Store | undefined;
afterEach(async () => {
  await store?.close();
  store = undefined;
});

const life = (op: string): JournalRecord => ({ t: 'lifecycle', at: 1, op });
const ops = (entries: Iterable<{ seq: number } & JournalRecord>) =>
  [...entries].map((e) => [e.seq, (e as { op?: string }).op]);

describe('Journal', () => {
  it('stores the records of one flush as one value and reads them back one by one', async () => {
    const home = tempHome();
    store = await Store.open(home);
    let journal = new Journal(store);
    for (const op of ['a', 'b', 'c']) journal.append('x', life(op));
    journal.append('y', life('solo'));
    await store.flushed();
    for (const op of ['d', 'e']) journal.append('x', life(op));
    await store.flushed();
    const db = store.db('journal', { encoding: 'binary' });
    expect([...db.getKeys({})]).toEqual([
      ['x', 0],
      ['x', 3],
      ['y', 0],
    ]);
    expect(ops(journal.entries('x'))).toEqual([
      [0, 'a'],
      [1, 'b'],
      [2, 'c'],
      [3, 'd'],
      [4, 'e'],
    ]);
    // From inside a group, and with a limit across groups.
    expect(ops(journal.entries('x', 1, 3))).toEqual([
      [1, 'b'],
      [2, 'c'],
      [3, 'd'],
    ]);
    expect(ops(journal.entries('x', 4))).toEqual([[4, 'e']]);
    expect(ops(journal.entries('x', 5))).toEqual([]);
    expect(ops(journal.entries('y'))).toEqual([[0, 'solo']]);
    // A reopened journal goes on after the last record of the last group.
    await store.close();
    store = await Store.open(home);
    journal = new Journal(store);
    expect(journal.append('x', life('f'))).toBe(5);
    expect(journal.append('y', life('again'))).toBe(1);
    await store.flushed();
    expect(ops(journal.entries('x', 2))).toEqual([
      [2, 'c'],
      [3, 'd'],
      [4, 'e'],
      [5, 'f'],
    ]);
  });

  it('stores a large flush as several groups of about GROUP_BYTES each', async () => {
    store = await Store.open(tempHome());
    const journal = new Journal(store);
    const big = new Uint8Array(GROUP_BYTES / 4).fill(7);
    const call = (i: number): JournalRecord => ({
      t: 'hostcall',
      at: i,
      fn: 'x.y',
      args: big,
      result: new Uint8Array([i]),
      status: 0,
      us: 0,
    });
    for (let i = 0; i < 10; i++) journal.append('x', call(i));
    await store.flushed();
    const keys = [...store.db('journal', { encoding: 'binary' }).getKeys({})] as [string, number][];
    expect(keys.map((k) => k[1])).toEqual([0, 4, 8]);
    const back = [...journal.entries('x')];
    expect(back.map((e) => [e.seq, e.t === 'hostcall' ? e.result[0] : -1])).toEqual(
      Array.from({ length: 10 }, (_, i) => [i, i]),
    );
    expect(back.every((e) => e.t === 'hostcall' && e.args.length === big.length)).toBe(true);
  });

  it('keeps the sequence whole when a record cannot be encoded, and stores the rest', async () => {
    store = await Store.open(tempHome());
    const errors: string[] = [];
    store.batch.onError = (_e, what) => errors.push(what);
    const journal = new Journal(store);
    journal.append('x', life('a'));
    journal.append('x', { t: 'lifecycle', at: 1, op: 'b', detail: (() => 1) as unknown as string });
    journal.append('x', life('c'));
    journal.append('y', life('other'));
    await store.flushed();
    expect(errors).toEqual(['journal records 0..2 of x']);
    const back = [...journal.entries('x')];
    expect(back.map((e) => [e.seq, (e as { op: string }).op])).toEqual([
      [0, 'a'],
      [1, 'unrecorded'],
      [2, 'c'],
    ]);
    expect((back[1] as { detail: string }).detail).toMatch(/^a lifecycle record could not be stored: /);
    expect(ops(journal.entries('y'))).toEqual([[0, 'other']]);
  });
});
