import { afterEach, describe, expect, it } from 'vitest';
import { tempHome } from '../../testing/harness.js';
import { Mailboxes } from './mailbox.js';
import { Store } from './store.js';

let store: Store | undefined;
afterEach(async () => {
  await store?.close();
  store = undefined;
});

const msg = (body: string) => ({ kind: 'text', sender: null, body });

describe('Mailboxes', () => {
  it('keeps arrival order: a send under reserved ids takes its place when it is appended', async () => {
    const home = tempHome();
    store = await Store.open(home);
    const box = new Mailboxes(store, () => 1);
    const first = box.reserve(2);
    const a = box.append('r', msg('"a"'));
    const b = box.appendAs('r', first + 1, msg('"b"'));
    const c = box.appendAs('r', first, msg('"c"'));
    expect([a.id, b.id, c.id]).toEqual([first + 2, first + 1, first]);
    await store.close();
    store = await Store.open(home);
    const reopened = new Mailboxes(store, () => 1);
    expect(reopened.pending('r').map((m) => m.body)).toEqual(['"a"', '"b"', '"c"']);
    expect(reopened.append('r', msg('"d"')).id).toBeGreaterThan(c.seq!); // ids never repeat
  });

  it('continues past the largest stored id when the id counter is lost (a salvaged home)', async () => {
    const home = tempHome();
    store = await Store.open(home);
    const box = new Mailboxes(store, () => 1);
    const queued = [box.append('r', msg('1')), box.append('r', msg('2')), box.append('s', msg('3'))];
    await store.flushed();
    await store.db('meta').remove('nextMessageId');
    await store.close();
    store = await Store.open(home);
    const next = new Mailboxes(store, () => 1).append('r', msg('4'));
    expect(next.id).toBeGreaterThan(Math.max(...queued.map((m) => m.id)));
  });

  it('writes nothing for a message acknowledged before its append was flushed', async () => {
    store = await Store.open(tempHome());
    const box = new Mailboxes(store, () => 1);
    const db = store.db('mailbox', { encoding: 'binary' });
    const quick = box.append('r', msg('1'));
    const retried = box.append('r', msg('2'));
    box.update('r', { ...retried, attempts: 1 });
    box.ack('r', quick);
    box.ack('r', retried);
    const slow = box.append('r', msg('3'));
    await store.flushed();
    expect([...db.getKeys({})]).toEqual([['r', slow.id]]);
    box.update('r', { ...slow, attempts: 2 });
    await store.flushed();
    expect(box.pending('r').map((m) => [m.body, m.attempts])).toEqual([['3', 2]]);
    box.ack('r', slow); // flushed: removed for real
    await store.flushed();
    expect(db.getCount()).toBe(0);
  });

  it('removes for real a message whose place was written once, however its later puts went', async () => {
    const home = tempHome();
    store = await Store.open(home);
    const box = new Mailboxes(store, () => 1);
    const m = box.append('r', msg('1'));
    await store.flushed(); // on disk now
    box.update('r', { ...m, attempts: 1 }); // a second put, still queued...
    box.ack('r', m); // ...withdrawn, and the first one removed
    const loaded = box.append('r', msg('2'));
    await store.close();
    store = await Store.open(home);
    const reopened = new Mailboxes(store, () => 1);
    expect(reopened.pending('r').map((x) => x.id)).toEqual([loaded.id]);
    reopened.update('r', { ...loaded, attempts: 1 });
    reopened.ack('r', loaded); // read from disk: removed for real
    await store.flushed();
    expect(reopened.pending('r')).toEqual([]);
    // In memory mode, a message read back from LMDB still leaves it the same way.
    await store.close();
    store = await Store.open(home);
    const memory = new Mailboxes(store, () => 1, false);
    expect(memory.pending('r')).toEqual([]);
    const durable = new Mailboxes(store, () => 1);
    const kept = durable.append('r', msg('3'));
    await store.flushed();
    const [back] = new Mailboxes(store, () => 1, false).pending('r');
    const fromDisk = new Mailboxes(store, () => 1, false);
    fromDisk.pending('r');
    fromDisk.update('r', { ...back!, attempts: 2 });
    fromDisk.ack('r', back!);
    await store.flushed();
    expect(durable.pending('r')).toEqual([]);
    expect(kept.id).toBe(back!.id);
  });
});
