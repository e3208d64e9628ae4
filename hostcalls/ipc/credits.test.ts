import { describe, expect, it } from 'vitest';
import type { KernelOptions } from '../../kernel/api.js';
import type { Kernel } from '../../kernel/kernel.js';
import type { ReadableEntry } from '../../kernel/store/journal.js';
import { codeOf } from '../../testing/expect-error.js';
import {
  captureLog,
  fixture,
  openKernel,
  PROBE_GRANTS,
  messenger as spawnMessenger,
  tempHome,
  until,
} from '../../testing/harness.js';
import { FIRST_CREDIT, MAX_CREDIT } from './credits.js';

let kernel: Kernel;

type Hostcall = Extract<ReadableEntry, { t: 'hostcall' }>;
type Invoke = Extract<ReadableEntry, { t: 'invoke' }>;
type Inbox = { kind: string; sender: string | null; body: unknown }[];

const messenger = (k: Kernel, name: string, limits?: { mailbox: number }): Promise<string> =>
  spawnMessenger(k, name, limits ? { limits } : {});

/**
 * A kernel whose batches never give way (sliceFuel), with messengers a, b and c, all suspended:
 * queued messages of `a` then run as one command, which can hold a credit for b while it waits
 * in a call to c.
 */
async function suspendedTrio(
  options: KernelOptions = {},
  limitsOfB?: { mailbox: number },
): Promise<{ a: string; b: string; c: string }> {
  kernel = await openKernel({ ...options, sliceFuel: 1_000_000_000 });
  const a = await messenger(kernel, 'a');
  const b = await messenger(kernel, 'b', limitsOfB);
  const c = await messenger(kernel, 'c');
  kernel.suspend(b);
  kernel.suspend(c);
  kernel.suspend(a);
  return { a, b, c };
}

const sendsOf = async (k: Kernel, id: string): Promise<Hostcall[]> =>
  (await k.journal(id)).filter((e): e is Hostcall => e.t === 'hostcall' && e.fn === 'ipc.send');

const invokesOf = async (k: Kernel, id: string): Promise<Invoke[]> =>
  (await k.journal(id)).filter((e): e is Invoke => e.t === 'invoke');

/** Waits until `id` has handled everything queued, then answers its inbox (messenger). */
async function drained(k: Kernel, id: string): Promise<Inbox> {
  await until(`${id} handled its mailbox`, () => k.inspect(id).mailbox === 0);
  return (await k.send(id, { op: 'inbox' })) as Inbox;
}

/** The journal's hostcall, invoke and outcome records as a string: I, h, O. */
const shape = (journal: ReadableEntry[]): string =>
  journal.map((e) => ({ invoke: 'I', hostcall: 'h', outcome: 'O' })[e.t as 'invoke'] ?? '').join('');

describe('ipc send credits', () => {
  it('a flood under credits arrives whole and in order, per sender, with two senders at once', async () => {
    kernel = await openKernel();
    const b = await messenger(kernel, 'b');
    const pinger = await fixture('pinger');
    const p1 = await kernel.spawn(pinger, { grants: ['ipc', 'clock'], name: 'p1' });
    const p2 = await kernel.spawn(pinger, { grants: ['ipc', 'clock'], name: 'p2' });
    const n = 1000;
    // Each sends kind `ping` with bodies 0..n-1, concurrently (two workers).
    expect(
      await Promise.all([
        kernel.send(p1, { op: 'flood', to: b, n }),
        kernel.send(p2, { op: 'flood', to: b, n }),
      ]),
    ).toEqual([n, n]);
    const inbox = await drained(kernel, b);
    expect(inbox).toHaveLength(2 * n);
    const order = [...Array(n).keys()];
    for (const p of [p1, p2]) expect(inbox.filter((m) => m.sender === p).map((m) => m.body)).toEqual(order);
    expect(inbox.every((m) => m.kind === 'ping')).toBe(true);

    // Each message was handed to b exactly once (one invoke, one ok outcome), and b got them in
    // the order of each sender's sends, with the ids the senders were given.
    const journal = await kernel.journal(b);
    const pings = journal.filter((e): e is Invoke => e.t === 'invoke' && e.message.kind === 'ping');
    expect(pings).toHaveLength(2 * n);
    expect(new Set(pings.map((e) => e.message.id)).size).toBe(2 * n);
    const ok = journal.filter((e) => e.t === 'outcome' && e.result === 'ok' && e.value === '"kept"');
    expect(ok).toHaveLength(2 * n);
    for (const p of [p1, p2]) {
      const given = (await sendsOf(kernel, p)).map((c) => Number(c.result as bigint));
      expect(given).toHaveLength(n);
      const got = pings.filter((e) => e.message.sender === p);
      expect(got.map((e) => e.message.id)).toEqual(given);
      expect(got.map((e) => e.message.body)).toEqual(order.map(String));
    }
  });

  it('journals one ipc.send per send, in order, with the id the guest got; credits double up to MAX_CREDIT', async () => {
    kernel = await openKernel();
    const b = await kernel.spawn(await fixture('echo-wat'), { name: 'b' });
    const s = await kernel.spawn(await fixture('sender-wat'), { grants: ['ipc'], name: 's' });
    const n = 600;
    expect(await kernel.send(s, `${b} ${n}`)).toBe(`${b} ${n}`);
    const journal = await kernel.journal(s);
    // The command's invoke, its 600 sends, its outcome: every posted send is applied before it settles.
    expect(shape(journal.slice(2))).toBe(`I${'h'.repeat(n)}O`);
    const sends = await sendsOf(kernel, s);
    expect(sends).toHaveLength(n);
    const env = { kind: 'ping', body: '1', priority: 'normal', attributes: '{}', ttlMs: 0 };
    for (const c of sends) {
      expect(c.args).toEqual([b, env]);
      expect(c.status).toBe(0);
      expect(typeof c.result).toBe('bigint');
    }
    const ids = sends.map((c) => Number(c.result as bigint));
    expect(new Set(ids).size).toBe(n);
    // A blocking send (the kernel served it) grants a credit, and that many posted sends (the
    // worker answered them) follow; each next credit is twice the last, up to MAX_CREDIT. The
    // dispatcher marks a posted send's record `posted` (it was applied, not served: no kernel
    // time, us 0); a served one has no mark.
    const expected: number[] = [];
    for (let at = 0, credit = FIRST_CREDIT; at < n; credit = Math.min(MAX_CREDIT, 2 * credit)) {
      expected.push(at);
      at += 1 + credit;
    }
    for (const c of sends) if (c.posted) expect(c.us).toBe(0);
    const blocking = sends.flatMap((c, i) => (c.posted ? [] : [i]));
    expect(blocking).toEqual(expected);
    expect(expected.at(-1)! - expected.at(-2)!).toBe(MAX_CREDIT + 1); // the flood reaches the largest
    // Under a credit the ids are the reserved ones, one after the other.
    for (let i = 1; i < n; i++) if (!blocking.includes(i)) expect(ids[i], `send ${i}`).toBe(ids[i - 1]! + 1);
    // The receiver got exactly these ids, in this order.
    await until('b handled the flood', () => kernel.inspect(b).mailbox === 0);
    const got = (await invokesOf(kernel, b)).map((e) => [e.message.id, e.message.sender, e.message.kind]);
    expect(got).toEqual(ids.map((id) => [id, s, 'ping']));
  });

  it('keeps backpressure exact: a flood into a full mailbox stops at its limit, nothing stays reserved', async () => {
    kernel = await openKernel();
    const a = await messenger(kernel, 'a');
    const b = await messenger(kernel, 'b', { mailbox: 50 });
    kernel.suspend(b); // nothing drains
    const flood = (await kernel.send(a, { op: 'flood', to: b, kind: 'note', body: 1, n: 1000 })) as {
      sent: number;
      refused: { tag: string; val: string };
    };
    // Refused once every place was promised to the flood: its sends are delivered when its call
    // commits, so the places are held until then.
    expect(flood).toEqual({
      sent: 50,
      refused: {
        tag: 'quota-exceeded',
        val: `${b}'s mailbox is full (0 messages and 50 places promised to senders, its limit is 50); retry later`,
      },
    });
    expect(kernel.mailbox(b)).toHaveLength(50);
    const sends = await sendsOf(kernel, a);
    expect(sends.map((c) => c.status)).toEqual([...Array(50).fill(0), 1]);
    expect(kernel.mailbox(b).map((m) => m.id)).toEqual(sends.slice(0, 50).map((c) => Number(c.result)));
    expect(await codeOf(() => kernel.post(b, 'x', { kind: 'note' }))).toBe(
      `AOS_E_QUOTA_EXCEEDED: ${b}'s mailbox is full (50 messages, its limit is 50); retry later`,
    );
    // Emptied, the mailbox takes exactly 50 again from the embedder.
    kernel.resume(b);
    expect(await drained(kernel, b)).toHaveLength(50);
    kernel.suspend(b);
    for (let i = 0; i < 50; i++) kernel.post(b, i, { kind: 'note' });
    expect(await codeOf(() => kernel.post(b, 50, { kind: 'note' }))).toBe(
      `AOS_E_QUOTA_EXCEEDED: ${b}'s mailbox is full (50 messages, its limit is 50); retry later`,
    );
  });

  it('counts a credit against the mailbox while the sender holds it; its places go back when the command ends', async () => {
    const { a, b, c } = await suspendedTrio({}, { mailbox: 10 });
    // One command for a (a batch): a send to b, then a call to c that waits until c is resumed.
    const sent = kernel.send(a, { op: 'send', to: b, kind: 'note', body: 0 });
    const called = kernel.send(a, { op: 'call', to: c, kind: 'task', body: 1 });
    kernel.resume(a);
    await until('a waits in its call to c', () => kernel.mailbox(c).length === 1);
    // a's send waits for its call to commit (1 place promised), and its credit holds 4 more
    // (half of the 9 free): the embedder gets 5 in.
    for (let i = 1; i <= 5; i++) kernel.post(b, i, { kind: 'note' });
    expect(await codeOf(() => kernel.post(b, 6, { kind: 'note' }))).toBe(
      `AOS_E_QUOTA_EXCEEDED: ${b}'s mailbox is full (5 messages and 5 places promised to senders, its limit is 10); retry later`,
    );
    kernel.resume(c);
    expect(await called).toEqual({ ok: { doubled: 2 } });
    // a's send arrived when its call committed, after the embedder's five.
    expect(await sent).toEqual({ ok: kernel.mailbox(b).at(-1)!.id });
    // a's command ended without using its credit: its places went back.
    for (let i = 6; i <= 9; i++) kernel.post(b, i, { kind: 'note' });
    expect(await codeOf(() => kernel.post(b, 10, { kind: 'note' }))).toBe(
      `AOS_E_QUOTA_EXCEEDED: ${b}'s mailbox is full (10 messages, its limit is 10); retry later`,
    );
    expect(kernel.mailbox(b).map((m) => JSON.parse(m.body))).toEqual([1, 2, 3, 4, 5, 0, 6, 7, 8, 9]);
  });

  it('after a one-off send, the receiver takes its whole limit from others again', async () => {
    kernel = await openKernel();
    const a = await messenger(kernel, 'a');
    const b = await messenger(kernel, 'b', { mailbox: 10 });
    kernel.suspend(b);
    expect(await kernel.send(a, { op: 'send', to: b, kind: 'note', body: 0 })).toEqual({
      ok: expect.any(Number),
    });
    for (let i = 1; i <= 9; i++) kernel.post(b, i, { kind: 'note' });
    expect(await codeOf(() => kernel.post(b, 10, { kind: 'note' }))).toBe(
      `AOS_E_QUOTA_EXCEEDED: ${b}'s mailbox is full (10 messages, its limit is 10); retry later`,
    );
  });

  it('drops a credited send whose receiver was terminated meanwhile; the sender goes on', async () => {
    const { lines, logger } = captureLog('info');
    const { a, b, c } = await suspendedTrio({ logger });
    // One command for a: a blocking send to b (a credit), a call to c during which b is
    // terminated, then a send to b under the credit (answered by a's worker).
    const first = kernel.send(a, { op: 'send', to: b, kind: 'note', body: 1 });
    const called = kernel.send(a, { op: 'call', to: c, kind: 'task', body: 1 });
    const credited = kernel.send(a, { op: 'send', to: b, kind: 'note', body: 2 });
    kernel.resume(a);
    await until('a waits in its call to c', () => kernel.mailbox(c).length === 1);
    await kernel.terminate(b);
    kernel.resume(c);
    const { ok: id } = (await first) as { ok: number };
    expect(await called).toEqual({ ok: { doubled: 2 } });
    // The guest got the next reserved id at once; both sends were to be delivered when a's call
    // committed, after b was gone: as if b went away right after them.
    expect(await credited).toEqual({ ok: id + 1 });
    const dropped = lines.filter((l) => l.msg === 'a send was dropped: its receiver is gone');
    expect(dropped).toEqual([
      expect.objectContaining({ agent: a, to: b, id, err: `agent ${b} is terminated` }),
      expect.objectContaining({ agent: a, to: b, id: id + 1, err: `agent ${b} is terminated` }),
    ]);
    expect(lines.filter((l) => l.msg === 'a posted send had no credit')).toEqual([]);
    // Nothing reached b; a's command ended ok and a goes on.
    expect((await invokesOf(kernel, b)).length).toBe(0);
    expect(kernel.inspect(b)).toMatchObject({ state: 'terminated', mailbox: 0 });
    expect((await sendsOf(kernel, a)).map((s) => [Number(s.result), s.status])).toEqual([
      [id, 0],
      [id + 1, 0],
    ]);
    expect(kernel.inspect(a)).toMatchObject({ state: 'ready', lastError: null });
    expect(await kernel.send(a, { op: 'send', to: b, body: 3 })).toMatchObject({
      err: { tag: 'not-found' },
    });
  });

  it("keeps arrival order across a restart: a call's sends arrive when it commits, after a message sent meanwhile", async () => {
    const home = tempHome();
    const { a, b, c } = await suspendedTrio({ home });
    const s = await kernel.spawn(await fixture('sender-wat'), { grants: ['ipc'], name: 's' });
    // a: a blocking send (ids reserved for the next ones), a call during which the embedder sends
    // to b, then two sends under the credit: their ids are older than the embedder's message,
    // but they arrive when a's call commits, after it.
    const outs = [
      kernel.send(a, { op: 'send', to: b, kind: 'note', body: 1 }),
      kernel.send(a, { op: 'call', to: c, kind: 'task', body: 1 }),
      kernel.send(a, { op: 'send', to: b, kind: 'note', body: 3 }),
      kernel.send(a, { op: 'send', to: b, kind: 'note', body: 4 }),
    ];
    kernel.resume(a);
    await until('a waits in its call to c', () => kernel.mailbox(c).length === 1);
    const meanwhile = kernel.post(b, 2, { kind: 'note' }).messageId;
    kernel.resume(c);
    const [r1, , r3, r4] = (await Promise.all(outs)) as { ok: number }[];
    expect([r3!.ok, r4!.ok]).toEqual([r1!.ok + 1, r1!.ok + 2]);
    expect(meanwhile).toBeGreaterThan(r4!.ok);
    // Then a flood of pings under credits, still into the suspended b.
    expect(await kernel.send(s, `${b} 300`)).toBe(`${b} 300`);
    const pingIds = (await sendsOf(kernel, s)).map((c) => Number(c.result));
    const expected = [meanwhile, r1!.ok, r3!.ok, r4!.ok, ...pingIds];
    expect(kernel.mailbox(b).map((m) => m.id)).toEqual(expected);
    await kernel.close();

    kernel = await openKernel({ home });
    expect(kernel.inspect(b).state).toBe('suspended');
    expect(kernel.mailbox(b).map((m) => m.id)).toEqual(expected);
    kernel.resume(b);
    const inbox = await drained(kernel, b);
    expect(inbox.slice(0, 4)).toEqual([
      { kind: 'note', sender: null, body: 2 },
      { kind: 'note', sender: a, body: 1 },
      { kind: 'note', sender: a, body: 3 },
      { kind: 'note', sender: a, body: 4 },
    ]);
    expect(inbox).toHaveLength(304);
    const handled = (await invokesOf(kernel, b)).filter((e) => e.message.kind !== 'text');
    expect(handled.map((e) => e.message.id)).toEqual(expected);
  });

  it('posts log.write: journaled in program order among blocking calls, and logged', async () => {
    const { lines, logger } = captureLog('info');
    kernel = await openKernel({ logger });
    const p = await kernel.spawn(await fixture('probe'), { grants: PROBE_GRANTS, name: 'p' });
    kernel.suspend(p);
    const log = (message: string) => ({ op: 'log', level: 'info', message });
    const messages = [
      log('one'),
      { op: 'wm', calls: [['set', 'k', 'v']] },
      log('two'),
      log('three'),
      { op: 'wm', calls: [['get', 'k']] },
      log('four'),
      { op: 'clock' },
      log('five'),
    ];
    const outs = messages.map((m) => kernel.send(p, m));
    kernel.resume(p); // one batch: one worker command
    const answers = await Promise.all(outs);
    expect(answers.filter((x) => x === 'logged')).toHaveLength(5);
    const journal = (await kernel.journal(p)).slice(2);
    expect(shape(journal)).toBe(`${'IhO'.repeat(6)}IhhOIhO`);
    const calls = journal.filter((e): e is Hostcall => e.t === 'hostcall');
    expect(calls.map((c) => [c.fn, c.args])).toEqual([
      ['log.write', ['info', 'one', '']],
      ['working-memory.set', ['k', 'v']],
      ['log.write', ['info', 'two', '']],
      ['log.write', ['info', 'three', '']],
      ['working-memory.get', ['k']],
      ['log.write', ['info', 'four', '']],
      ['clock.now', []],
      ['clock.monotonic', []],
      ['log.write', ['info', 'five', '']],
    ]);
    for (const c of calls) expect(c.status).toBe(0);
    // Each hostcall follows the invoke of the message that made it.
    const invokeBodies = journal
      .filter((e): e is Invoke => e.t === 'invoke')
      .map((e) => JSON.parse(e.message.body) as unknown);
    expect(invokeBodies).toEqual(messages);
    const guest = lines.filter((l) => l.source === 'guest');
    expect(guest.map((l) => [l.agent, l.msg, l.level])).toEqual(
      ['one', 'two', 'three', 'four', 'five'].map((m) => [p, m, 30]),
    );
  });

  it('refuses a send with a bad kind under a credit, as without one', async () => {
    kernel = await openKernel({ sliceFuel: 1_000_000_000 });
    const a = await messenger(kernel, 'a');
    const b = await messenger(kernel, 'b');
    kernel.suspend(b);
    const badKind = { err: { tag: 'invalid', val: 'message kind must be a string of 1..128 characters' } };
    const toolKind = {
      err: { tag: 'invalid', val: `${b} is an agent: send it messages; only skills take tool calls` },
    };
    // Without a credit (each its own command), the kernel refuses them.
    expect(await kernel.send(a, { op: 'send', to: b, kind: '', body: 0 })).toEqual(badKind);
    expect(await kernel.send(a, { op: 'send', to: b, kind: 'k'.repeat(129), body: 0 })).toEqual(badKind);
    expect(await kernel.send(a, { op: 'send', to: b, kind: 'tool.invoke', body: 0 })).toEqual(toolKind);
    kernel.suspend(a);
    const outs = [
      kernel.send(a, { op: 'send', to: b, kind: 'note', body: 1 }),
      kernel.send(a, { op: 'send', to: b, kind: '', body: 2 }),
      kernel.send(a, { op: 'send', to: b, kind: 'k'.repeat(129), body: 3 }),
      kernel.send(a, { op: 'send', to: b, kind: 'tool.invoke', body: 4 }),
    ];
    kernel.resume(a); // one command: the last three are made under the first one's credit
    const [first, ...rest] = await Promise.all(outs);
    expect(first).toEqual({ ok: kernel.mailbox(b)[0]!.id });
    expect(rest).toEqual([badKind, badKind, toolKind]);
    expect(kernel.mailbox(b)).toHaveLength(1);
  });

  it('gives a credit back at a refused blocking send to the same receiver', async () => {
    const { a, b, c } = await suspendedTrio({}, { mailbox: 10 });
    const outs = [
      kernel.send(a, { op: 'send', to: b, kind: 'note', body: 1 }), // a credit of 4 places
      kernel.send(a, { op: 'call', to: c, kind: 'task', body: 1 }),
      kernel.send(a, { op: 'send', to: b, kind: 'note', rawBody: '{bad' }), // asks the kernel
      kernel.send(a, { op: 'send', to: b, kind: 'note', body: 4 }),
    ];
    kernel.resume(a);
    await until('a waits in its call to c', () => kernel.mailbox(c).length === 1);
    for (let i = 0; i < 5; i++) kernel.post(b, i, { kind: 'note' }); // 6 queued, 4 promised to a
    kernel.resume(c);
    const [, , bad, last] = await Promise.all(outs);
    expect(bad).toMatchObject({ err: { tag: 'invalid' } });
    // The bad send was a blocking send to b: a's credit for b ended there (credits.ts), so its
    // places are free again and this send has room (7 of 10).
    expect(last).toEqual({ ok: expect.any(Number) });
  });
});
