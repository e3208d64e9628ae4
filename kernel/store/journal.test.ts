import { afterEach, describe, expect, it } from 'vitest';
import { tempHome } from '../testing/harness.js';
import { Journal, type JournalRecord } from './journal.js';
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
});
