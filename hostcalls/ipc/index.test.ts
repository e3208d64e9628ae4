import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../kernel/base/clock.js';
import type { Kernel, KernelOptions } from '../../kernel/kernel.js';
import { codeOf } from '../../testing/expect-error.js';
import { fixture, messenger, openKernel, sample, tempHome, until } from '../../testing/harness.js';

let kernel: Kernel;

/** Opens `kernel` (closed after the test) with two messengers, `a` and `b`. */
async function twoAgents(options: KernelOptions = {}): Promise<{ a: string; b: string }> {
  kernel = await openKernel(options);
  return { a: await messenger(kernel, 'a'), b: await messenger(kernel, 'b') };
}

/** Runs one ipc op inside agent `id`. */
const op = (k: Kernel, id: string, m: Record<string, unknown>): Promise<unknown> => k.send(id, m);

type Inbox = { kind: string; sender: string | null; body: Record<string, unknown> }[];

/** Waits until `id`'s inbox has `n` entries (messages arrive asynchronously). */
async function inbox(k: Kernel, id: string, n: number): Promise<Inbox> {
  let got: Inbox = [];
  await until(`${n} messages in the inbox of ${id}`, async () => {
    got = (await op(k, id, { op: 'inbox' })) as Inbox;
    return got.length >= n;
  });
  return got;
}

describe('ipc', () => {
  it('sends to one agent: the message arrives with its sender, kind and body', async () => {
    const { a, b } = await twoAgents();
    const sent = (await op(kernel, a, { op: 'send', to: b, kind: 'note', body: { hi: 1 } })) as {
      ok: number;
    };
    expect(sent.ok).toBeGreaterThan(0);
    expect(await inbox(kernel, b, 1)).toEqual([{ kind: 'note', sender: a, body: { hi: 1 } }]);
    // The journal holds the send (the sender's hostcall) and the delivery (the receiver's invoke).
    const sends = (await kernel.journal(a)).filter((e) => e.t === 'hostcall' && e.fn === 'ipc.send');
    expect(sends).toHaveLength(1);
    const delivered = (await kernel.journal(b)).filter((e) => e.t === 'invoke' && e.message.kind === 'note');
    expect(delivered).toMatchObject([{ message: { id: sent.ok, sender: a } }]);
  });

  it('answers a request with ipc.reply, value or error, correlated by id', async () => {
    const { a, b } = await twoAgents();
    const r1 = (await op(kernel, a, { op: 'request', to: b, kind: 'task', body: 21 })) as { ok: number };
    const r2 = (await op(kernel, a, { op: 'request', to: b, kind: 'fail', body: 'x' })) as { ok: number };
    const got = await inbox(kernel, a, 2);
    expect(got).toEqual([
      { kind: 'ipc.reply', sender: b, body: { request: r1.ok, value: { doubled: 42 } } },
      {
        kind: 'ipc.reply',
        sender: b,
        body: { request: r2.ok, error: { tag: 'invalid', val: 'cannot do "x"' } },
      },
    ]);
  });

  it('sends ipc.timeout when a request is not answered in time, and drops the late reply', async () => {
    const clock = new ManualClock(1_000n);
    const { a, b } = await twoAgents({ clock });
    kernel.suspend(b);
    const r = (await op(kernel, a, { op: 'request', to: b, kind: 'task', body: 1, timeoutMs: 50 })) as {
      ok: number;
    };
    clock.advance(49n);
    expect(await op(kernel, a, { op: 'inbox' })).toEqual([]);
    clock.advance(1n);
    expect(await inbox(kernel, a, 1)).toEqual([{ kind: 'ipc.timeout', sender: b, body: { request: r.ok } }]);
    // At exactly the timeout, the reply is late too: the requester gets one of the two, never both.
    kernel.resume(b);
    await kernel.send(b, { op: 'inbox' }); // b has handled the request by now
    const answered = (await kernel.journal(b)).filter((e) => e.t === 'outcome' && e.messageId === r.ok);
    expect(answered).toMatchObject([{ result: 'ok' }]);
    // A reply would have reached a's mailbox when b's call committed, before a takes this message.
    expect(await op(kernel, a, { op: 'inbox' })).toHaveLength(1);
  });

  it('publishes to the subscribers whose filters match; subscriptions outlive a restart', async () => {
    const home = tempHome();
    kernel = await openKernel({ home });
    const pub = await messenger(kernel, 'pub');
    const all = await messenger(kernel, 'all');
    const eu = await messenger(kernel, 'eu');
    const sAll = (await op(kernel, all, { op: 'subscribe', channel: 'news' })) as { ok: number };
    await op(kernel, eu, {
      op: 'subscribe',
      channel: 'news',
      filter: { kind: ['alert'], where: { region: 'eu' } },
    });
    for (const [kind, body, region] of [
      ['alert', 1, 'eu'],
      ['alert', 2, 'us'],
      ['notice', 3, 'eu'],
    ] as const)
      await op(kernel, pub, { op: 'publish', channel: 'news', kind, body, attributes: { region } });
    await op(kernel, pub, { op: 'publish', channel: 'sports', kind: 'alert', body: 4 });
    expect((await inbox(kernel, all, 3)).map((m) => m.body.body)).toEqual([1, 2, 3]);
    const euGot = await inbox(kernel, eu, 1);
    expect(euGot).toMatchObject([
      {
        kind: 'ipc.publish',
        sender: pub,
        body: { channel: 'news', kind: 'alert', body: 1, attributes: { region: 'eu' } },
      },
    ]);
    expect(await op(kernel, eu, { op: 'unsubscribe', id: sAll.ok })).toMatchObject({
      err: { tag: 'not-found' },
    });
    expect(await op(kernel, all, { op: 'unsubscribe', id: sAll.ok })).toEqual({ ok: null });
    await kernel.close();
    kernel = await openKernel({ home });
    await op(kernel, pub, {
      op: 'publish',
      channel: 'news',
      kind: 'alert',
      body: 5,
      attributes: { region: 'eu' },
    });
    // Its heap was rebuilt from the journal at the restart: what it had received is still there.
    expect((await inbox(kernel, eu, 2)).map((m) => m.body.body)).toEqual([1, 5]);
    // It had unsubscribed: 5 did not reach it.
    expect((await inbox(kernel, all, 3)).map((m) => m.body.body)).toEqual([1, 2, 3]);
  });

  it('broadcasts to every agent it may reach, not to itself or to skills', async () => {
    const { a, b } = await twoAgents();
    const c = await messenger(kernel, 'c');
    const probe = await kernel.spawn(await fixture('probe'), {
      grants: ['log', 'clock', 'random', 'working-memory'],
    });
    const skill = await kernel.spawn(await sample('text-stats'));
    expect(await op(kernel, a, { op: 'broadcast', kind: 'hello', body: 'all' })).toEqual({ ok: 3 });
    expect(await inbox(kernel, b, 1)).toEqual([{ kind: 'hello', sender: a, body: 'all' }]);
    expect(await inbox(kernel, c, 1)).toEqual([{ kind: 'hello', sender: a, body: 'all' }]);
    const hellos = async (id: string) =>
      (await kernel.journal(id)).filter((e) => e.t === 'invoke' && e.message.kind === 'hello');
    await until('the probe takes its message', () => kernel.inspect(probe).mailbox === 0);
    expect(await hellos(probe)).toHaveLength(1);
    // Delivered when a's call committed, before a's answer: a skill would hold it by now.
    expect(kernel.mailbox(skill)).toEqual([]);
    expect(await hellos(skill)).toEqual([]);
    expect(await op(kernel, a, { op: 'inbox' })).toEqual([]);
  });

  it('enforces the grant: sends, channels and broadcast outside it are denied and counted', async () => {
    kernel = await openKernel();
    const ok = await messenger(kernel, 'ally');
    const other = await messenger(kernel, 'stranger');
    const a = await messenger(kernel, 'a', {
      grants: ['ipc:send=ally-*;publish=news|alerts.*;subscribe=alerts.*'],
    });
    expect(await op(kernel, a, { op: 'send', to: ok, body: 1 })).toMatchObject({ ok: expect.any(Number) });
    const denied = (what: string) => ({ err: { tag: 'denied', val: `${a} may not ${what}` } });
    expect(await op(kernel, a, { op: 'send', to: other, body: 1 })).toEqual(denied(`send to ${other}`));
    expect(await op(kernel, a, { op: 'call', to: other, body: 1 })).toEqual(denied(`send to ${other}`));
    expect(await op(kernel, a, { op: 'publish', channel: 'sports', body: 1 })).toEqual(
      denied('publish on sports'),
    );
    expect(await op(kernel, a, { op: 'publish', channel: 'alerts.fire', body: 1 })).toEqual({
      ok: expect.any(Number),
    });
    expect(await op(kernel, a, { op: 'subscribe', channel: 'news' })).toEqual(denied('subscribe to news'));
    expect(await op(kernel, a, { op: 'broadcast', body: 1 })).toEqual(denied('broadcast'));
    expect(kernel.inspect(a).stats.limits).toEqual({ 'denied:ipc': 5 });
    for (const [grant, why] of [
      ['ipc:shout=x', /"shout" is not one of send, publish, subscribe, broadcast/],
      ['ipc:send', /send needs patterns/],
      ['ipc:broadcast=x', /broadcast takes no patterns/],
    ] as const) {
      expect(await codeOf(messenger(kernel, 'bad', { grants: [grant] }))).toMatch(why);
    }
  });

  it('refuses bad messages with clear errors and stores nothing', async () => {
    kernel = await openKernel({ maxMessageBytes: 1000 });
    const a = await messenger(kernel, 'a');
    const b = await messenger(kernel, 'b', { limits: { mailbox: 1 } });
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ op: 'send', to: 'nobody-000000', body: 1 }, 'not-found', /no agent "nobody-000000"/],
      [{ op: 'send', to: b, rawBody: '{bad' }, 'invalid', /the message body is not JSON/],
      [
        { op: 'send', to: b, kind: '', body: 1 },
        'invalid',
        /message kind must be a string of 1..128 characters/,
      ],
      [{ op: 'send', to: b, pad: 2000 }, 'quota-exceeded', /the limit is 1000/],
      [
        { op: 'send', to: b, body: 1, rawAttributes: '[1]' },
        'invalid',
        /the attributes must be a JSON object/,
      ],
      [
        { op: 'send', to: b, body: 1, attributes: { deep: { x: 1 } } },
        'invalid',
        /attribute deep must be a string or a number/,
      ],
      [
        { op: 'subscribe', channel: 'news', rawFilter: '{"size":1}' },
        'invalid',
        /the filter has no field size/,
      ],
      [{ op: 'subscribe', channel: '' }, 'invalid', /a channel name is 1..128 characters/],
      [{ op: 'publish', channel: 'a b', body: 1 }, 'invalid', /without spaces/],
    ];
    for (const [m, tag, why] of cases) {
      const r = (await op(kernel, a, m)) as { err: { tag: string; val: string } };
      expect(r.err.tag, JSON.stringify(m)).toBe(tag);
      expect(r.err.val).toMatch(why);
    }
    expect(kernel.mailbox(b)).toHaveLength(0);
    kernel.suspend(b);
    expect(await op(kernel, a, { op: 'send', to: b, body: 1 })).toMatchObject({ ok: expect.any(Number) });
    expect(await op(kernel, a, { op: 'send', to: b, body: 2 })).toMatchObject({
      err: { tag: 'quota-exceeded' },
    });
    expect(kernel.mailbox(b)).toHaveLength(1);
  });

  it('pushes back on a sender flooding a slow receiver, while other agents keep going', async () => {
    kernel = await openKernel();
    const flooder = await messenger(kernel, 'flooder');
    const slow = await messenger(kernel, 'slow', { limits: { mailbox: 20 } });
    const a = await messenger(kernel, 'a');
    const b = await messenger(kernel, 'b');
    kernel.suspend(slow); // it takes nothing for now
    const flood = (await op(kernel, flooder, { op: 'flood', to: slow, kind: 'note', body: 1, n: 1000 })) as {
      sent: number;
      refused: { tag: string; val: string };
    };
    expect(flood.sent).toBe(20);
    expect(flood.refused).toMatchObject({
      tag: 'quota-exceeded',
      val: expect.stringMatching(/mailbox is full .*; retry later/),
    });
    expect(kernel.mailbox(slow)).toHaveLength(20);
    // The rest of the kernel is unaffected.
    expect(await op(kernel, a, { op: 'call', to: b, kind: 'task', body: 4 })).toEqual({ ok: { doubled: 8 } });
    kernel.resume(slow);
    await until('slow takes its mailbox', () => kernel.inspect(slow).mailbox === 0);
    expect(await inbox(kernel, slow, 20)).toHaveLength(20);
  });

  it('delivers by priority, FIFO within one, and drops what outlives its TTL', async () => {
    const clock = new ManualClock(1_000n);
    const { a, b } = await twoAgents({ clock });
    kernel.suspend(b);
    for (const [priority, n] of [
      ['low', 1],
      ['normal', 2],
      ['high', 3],
      ['low', 4],
      ['high', 5],
    ] as const)
      await op(kernel, a, { op: 'send', to: b, kind: 'note', body: n, priority });
    await op(kernel, a, { op: 'send', to: b, kind: 'note', body: 6, priority: 'high', ttlMs: 20 });
    await op(kernel, a, { op: 'send', to: b, kind: 'note', body: 7, priority: 'high', ttlMs: 21 });
    clock.advance(21n); // past 6's TTL, at the last ms of 7's
    kernel.resume(b);
    expect((await inbox(kernel, b, 6)).map((m) => m.body)).toEqual([3, 5, 7, 2, 1, 4]);
    const expired = (await kernel.journal(b)).filter((e) => e.t === 'outcome' && e.result === 'expired');
    expect(expired).toMatchObject([{ value: expect.stringContaining('expired undelivered') }]);
  });
});
