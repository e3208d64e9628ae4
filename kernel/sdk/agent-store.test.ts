import { afterEach, describe, expect, it } from 'vitest';
import { workingMemory } from '../../hostcalls/working-memory/index.js';
import { tempHome } from '../../testing/harness.js';
import { Txn } from '../hostcall/txn.js';
import { Store } from '../store/store.js';
import { AgentStore } from './agent-store.js';
import type { Capability } from './capability.js';

let store: Store | undefined;
afterEach(async () => {
  await store?.close();
  store = undefined;
});

const open = async (home = tempHome()): Promise<{ home: string; store: Store }> => {
  store = await Store.open(home);
  return { home, store };
};

describe('AgentStore', () => {
  it("stages a call's writes: the call reads them, others do not until it commits, a dropped call leaves none", async () => {
    const { store: s } = await open();
    const notes = new AgentStore<string>(s, 'notes');
    const txn = new Txn('a-1', null);
    notes.write(txn, 'a-1', 'k', 'v');
    expect(notes.read(txn, 'a-1', 'k')).toBe('v');
    expect(notes.read(null, 'a-1', 'k')).toBeUndefined();
    txn.apply(() => {});
    expect(notes.read(null, 'a-1', 'k')).toBe('v'); // committing: in the overlay
    await s.flushed();
    expect(notes.read(null, 'a-1', 'k')).toBe('v'); // on disk
    const dropped = new Txn('a-1', null);
    notes.write(dropped, 'a-1', 'k', null);
    notes.write(dropped, 'a-1', 'other', 'x');
    dropped.drop(() => {});
    await s.flushed();
    expect(notes.entries('a-1')).toEqual([['k', 'v']]);
  });

  it('lists, drops, copies and restores one agent without touching another', async () => {
    const { home, store: s } = await open();
    const notes = new AgentStore<string>(s, 'notes');
    notes.putAll('a-1', [
      ['b', '2'],
      ['a', '1'],
      ['é', '3'],
    ]);
    notes.putAll('a-10', [['a', 'other']]);
    expect(notes.list(null, 'a-1', '', 10)).toEqual(['a', 'b', 'é']);
    expect(notes.entries('a-1')).toEqual([
      ['a', '1'],
      ['b', '2'],
      ['é', '3'],
    ]);
    notes.drop('a-1');
    expect(notes.entries('a-1')).toEqual([]);
    await s.flushed();
    await s.close();
    store = undefined;
    const again = new AgentStore<string>((await open(home)).store, 'notes');
    expect(again.entries('a-1')).toEqual([]);
    expect(again.entries('a-10')).toEqual([['a', 'other']]);
  });
});

describe("working memory's state hooks", () => {
  it('exports, imports into another agent, forks, and refuses a state it did not export', async () => {
    const { store: s } = await open();
    const wm = workingMemory as Capability<unknown, AgentStore<string>>;
    const shared = wm.init!({ storage: s } as never, undefined);
    shared.putAll('a-1', [
      ['x', '1'],
      ['y', '2'],
    ]);
    const state = wm.export!('a-1', shared);
    expect(state).toEqual([
      ['x', '1'],
      ['y', '2'],
    ]);
    wm.import!('b-2', JSON.parse(JSON.stringify(state)), shared);
    wm.fork!('a-1', 'c-3', shared);
    wm.drop!('a-1', shared);
    await s.flushed();
    expect(shared.entries('b-2')).toEqual(state);
    expect(shared.entries('c-3')).toEqual(state);
    expect(shared.entries('a-1')).toEqual([]);
    expect(() => wm.import!('d-4', [['x', 1]], shared)).toThrow(
      'working-memory state must be a list of [key, value] strings',
    );
    expect(shared.entries('d-4')).toEqual([]);
  });
});
