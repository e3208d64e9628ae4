import { describe, expect, it } from 'vitest';
import type { Kernel } from '../../kernel/kernel.js';
import { codeOf } from '../../kernel/testing/expect-error.js';
import { fixture, openKernel, tempHome } from '../../kernel/testing/harness.js';

let kernel: Kernel;

const messenger = async (k: Kernel, name: string, grant = 'ipc'): Promise<string> =>
  k.spawn(await fixture('messenger'), { grants: [grant], name });

/** Runs one ipc op inside agent `id`. */
const op = (k: Kernel, id: string, m: Record<string, unknown>): Promise<unknown> => k.send(id, m);

type Inbox = { kind: string; sender: string | null; body: Record<string, unknown> }[];

/** Waits until `id`'s inbox has `n` entries (messages arrive asynchronously). */
async function inbox(k: Kernel, id: string, n: number): Promise<Inbox> {
  for (let i = 0; i < 400; i++) {
    const got = (await op(k, id, { op: 'inbox' })) as Inbox;
    if (got.length >= n) return got;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`inbox of ${id} never reached ${n}`);
}

describe('ipc', () => {
  it('sends to one agent: the message arrives with its sender, kind and body', async () => {
    kernel = await openKernel();
    const a = await messenger(kernel, 'a');
    const b = await messenger(kernel, 'b');
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
    kernel = await openKernel();
    const a = await messenger(kernel, 'a');
    const b = await messenger(kernel, 'b');
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
    kernel = await openKernel();
    const a = await messenger(kernel, 'a');
    const b = await messenger(kernel, 'b');
    kernel.suspend(b);
    const r = (await op(kernel, a, { op: 'request', to: b, kind: 'task', body: 1, timeoutMs: 50 })) as {
      ok: number;
    };
    expect(await inbox(kernel, a, 1)).toEqual([{ kind: 'ipc.timeout', sender: b, body: { request: r.ok } }]);
    kernel.resume(b);
    await kernel.send(b, { op: 'inbox' }); // b has handled the request by now
    await new Promise((res) => setTimeout(res, 50));
    expect(await inbox(kernel, a, 1)).toHaveLength(1);
  });

  it('calls and blocks for the answer, giving its CPU permit away meanwhile', async () => {
    kernel = await openKernel({ cpus: 1, workers: 3 });
    const a = await messenger(kernel, 'a');
    const b = await messenger(kernel, 'b');
    expect(await op(kernel, a, { op: 'call', to: b, kind: 'task', body: 5 })).toEqual({
      ok: { doubled: 10 },
    });
    expect(await op(kernel, a, { op: 'call', to: b, kind: 'fail', body: 1 })).toEqual({
      err: { tag: 'invalid', val: 'cannot do 1' },
    });
    expect(await op(kernel, a, { op: 'call', to: a, kind: 'task', body: 1 })).toMatchObject({
      err: { tag: 'invalid' },
    });
    kernel.suspend(b);
    expect(await op(kernel, a, { op: 'call', to: b, kind: 'task', body: 1, timeoutMs: 50 })).toMatchObject({
      err: { tag: 'timed-out' },
    });
    expect(kernel.inspect(a).stats.blockedUs).toBeGreaterThan(0);
  });

  it('lets a chain of blocking calls deeper than the workers go through: the pool grows, up to maxWorkers', async () => {
    // m0 calls m1, which calls m2, which calls m3: three calls blocked at once, on two workers.
    const chain = (ids: string[], [outer, middle, inner]: number[]) => ({
      op: 'call',
      to: ids[1],
      kind: 'text',
      timeoutMs: outer,
      body: {
        op: 'call',
        to: ids[2],
        kind: 'text',
        timeoutMs: middle,
        body: { op: 'call', to: ids[3], kind: 'task', body: 21, timeoutMs: inner },
      },
    });
    kernel = await openKernel({ cpus: 2, workers: 2 });
    let ids = [];
    for (let i = 0; i < 4; i++) ids.push(await messenger(kernel, `m${i}`));
    expect(await op(kernel, ids[0]!, chain(ids, [5000, 5000, 5000]))).toEqual({
      ok: { ok: { ok: { doubled: 42 } } },
    });
    await kernel.close();
    // At maxWorkers = workers the pool cannot grow: m1's call to m2 waits in vain.
    kernel = await openKernel({ cpus: 2, workers: 2, maxWorkers: 2 });
    ids = [];
    for (let i = 0; i < 4; i++) ids.push(await messenger(kernel, `m${i}`));
    expect(await op(kernel, ids[0]!, chain(ids, [5000, 300, 300]))).toMatchObject({
      ok: { err: { tag: 'timed-out' } },
    });
    await expect(openKernel({ workers: 3, maxWorkers: 2 })).rejects.toMatchObject({
      code: 'AOS_E_BAD_CONFIG',
      message: 'maxWorkers must be an integer of at least workers (3), got 2',
    });
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
    expect((await inbox(kernel, eu, 1)).map((m) => m.body.body)).toEqual([5]);
    expect(await op(kernel, all, { op: 'inbox' })).toEqual([]);
  });

  it('broadcasts to every agent it may reach, not to itself or to skills', async () => {
    kernel = await openKernel();
    const a = await messenger(kernel, 'a');
    const b = await messenger(kernel, 'b');
    const c = await messenger(kernel, 'c');
    await kernel.spawn(await fixture('probe'), { grants: ['log', 'clock', 'random', 'working-memory'] });
    expect(await op(kernel, a, { op: 'broadcast', kind: 'hello', body: 'all' })).toEqual({ ok: 3 });
    expect(await inbox(kernel, b, 1)).toEqual([{ kind: 'hello', sender: a, body: 'all' }]);
    expect(await inbox(kernel, c, 1)).toEqual([{ kind: 'hello', sender: a, body: 'all' }]);
  });

  it('enforces the grant: sends, channels and broadcast outside it are denied and counted', async () => {
    kernel = await openKernel();
    const ok = await messenger(kernel, 'ally');
    const other = await messenger(kernel, 'stranger');
    const a = await messenger(kernel, 'a', 'ipc:send=ally-*;publish=news|alerts.*;subscribe=alerts.*');
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
      expect(await codeOf(messenger(kernel, 'bad', grant))).toMatch(why);
    }
  });

  it('refuses bad messages with clear errors and stores nothing', async () => {
    kernel = await openKernel({ maxMessageBytes: 1000 });
    const a = await messenger(kernel, 'a');
    const b = await kernel.spawn(await fixture('messenger'), {
      grants: ['ipc'],
      name: 'b',
      limits: { mailbox: 1 },
    });
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
    const slow = await kernel.spawn(await fixture('messenger'), {
      grants: ['ipc'],
      name: 'slow',
      limits: { mailbox: 20 },
    });
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
    for (let i = 0; i < 400 && kernel.inspect(slow).mailbox > 0; i++)
      await new Promise((r) => setTimeout(r, 5));
    expect(await inbox(kernel, slow, 20)).toHaveLength(20);
  });

  it('delivers by priority, FIFO within one, and drops what outlives its TTL', async () => {
    kernel = await openKernel();
    const a = await messenger(kernel, 'a');
    const b = await messenger(kernel, 'b');
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
    await new Promise((r) => setTimeout(r, 60));
    kernel.resume(b);
    expect((await inbox(kernel, b, 5)).map((m) => m.body)).toEqual([3, 5, 2, 1, 4]);
    const expired = (await kernel.journal(b)).filter((e) => e.t === 'outcome' && e.result === 'expired');
    expect(expired).toHaveLength(1);
  });
});
