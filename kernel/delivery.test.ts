import { describe, expect, it } from 'vitest';
import { codeOf } from '../testing/expect-error.js';
import {
  exitWorkerThread,
  fixture,
  openKernel,
  PROBE_GRANTS,
  sample,
  tempHome,
  until,
} from '../testing/harness.js';
import { ManualClock } from './base/clock.js';
import type { Kernel } from './kernel.js';

let kernel: Kernel;

const probe = async (k: Kernel): Promise<string> => k.spawn(await fixture('probe'), { grants: PROBE_GRANTS });

/**
 * Waits for `p`, moving the manual clock on by 1 ms at a time once agent `id` has crashed, so its
 * retries (their backoffs) come due; before its first crash the clock stands still.
 */
async function driven<T>(clock: ManualClock, k: Kernel, id: string, p: Promise<T>): Promise<T> {
  let done = false;
  const out = p.finally(() => {
    done = true;
  });
  for (let i = 0; i < 4000 && !done; i++) {
    if (k.inspect(id).stats.crashes > 0) clock.advance(1n);
    await new Promise((r) => setTimeout(r, 2));
  }
  return out;
}

const invokes = async (k: Kernel, id: string, messageId: number): Promise<number> =>
  (await k.journal(id)).filter((e) => e.t === 'invoke' && e.message.id === messageId).length;

describe('at-least-once delivery', () => {
  it('delivers a crashing message again with backoff, then dead-letters it', async () => {
    kernel = await openKernel({ delivery: { attempts: 3, backoffMs: 10 } });
    const id = await probe(kernel);
    const { messageId } = kernel.post(id, { op: 'trap' });
    const err = await kernel.send(id, { op: 'echo' }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeNull(); // the next message is handled once the bad one is out of the way
    const letters = await kernel.deadLetters(id);
    expect(letters).toMatchObject([
      { agent: id, message: { id: messageId, attempts: 2 }, code: 'AOS_E_AGENT_CRASHED', attempts: 3 },
    ]);
    expect(letters[0]!.reason).toMatch(/crashed: Error: probe was asked to trap\n {4}handle@/);
    expect(await invokes(kernel, id, messageId)).toBe(3);
    expect(kernel.inspect(id)).toMatchObject({ mailbox: 0, stats: { crashes: 3 } });
  });

  it('tells the sender once the message is dead-lettered, with the last error', async () => {
    kernel = await openKernel({ delivery: { attempts: 2, backoffMs: 1 } });
    const id = await probe(kernel);
    const err = await kernel.send(id, { op: 'trap' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'AOS_E_AGENT_CRASHED', details: { deadLettered: true, attempts: 2 } });
    expect(String((err as Error).message)).toMatch(/; dead-lettered after 2 attempts$/);
  });

  it('does not dead-letter a message that succeeds on a later attempt', async () => {
    // The message fails until the kernel clock reaches `at`; each retry waits its backoff on
    // that clock, so the test moves it on until the message goes through.
    const clock = new ManualClock(1_000n);
    kernel = await openKernel({ clock, delivery: { attempts: 5, backoffMs: 1 } });
    const id = await probe(kernel);
    expect(await driven(clock, kernel, id, kernel.send(id, { op: 'until', at: 1_002 }))).toEqual({
      at: expect.any(String),
    });
    expect(kernel.inspect(id).stats.crashes).toBeGreaterThanOrEqual(1);
    expect(await kernel.deadLetters(id)).toEqual([]);
  });

  it('drops what a crashing call wrote: its retry starts from the state before it', async () => {
    kernel = await openKernel({ delivery: { attempts: 2, backoffMs: 1 } });
    const id = await probe(kernel);
    await kernel.send(id, { op: 'wm', calls: [['set', 'kept', 'before']] });
    const calls = [['set', 'kept', 'overwritten'], ['set', 'new', 'x'], ['delete', 'kept'], ['trap']];
    expect(await codeOf(kernel.send(id, { op: 'wm', calls }))).toMatch(/^AOS_E_AGENT_CRASHED/);
    const read = [
      ['get', 'kept'],
      ['get', 'new'],
      ['list', '', 0],
    ];
    expect(await kernel.send(id, { op: 'wm', calls: read })).toEqual([
      { ok: 'before' },
      { ok: null },
      { ok: ['kept'] },
    ]);
    // Both attempts are in the journal, with their hostcalls and their crash.
    const journal = await kernel.journal(id);
    const crashed = journal.filter((e) => e.t === 'outcome' && e.result === 'crash');
    expect(crashed).toHaveLength(2);
  });

  it('requeues a dead letter as a new message, and purges the rest', async () => {
    const clock = new ManualClock(1_000n);
    kernel = await openKernel({ clock, delivery: { attempts: 2, backoffMs: 1 } });
    const id = await probe(kernel);
    expect(await driven(clock, kernel, id, codeOf(kernel.send(id, { op: 'until', at: 100_000 })))).toMatch(
      /^AOS_E_AGENT_CRASHED/,
    );
    await driven(clock, kernel, id, codeOf(kernel.send(id, { op: 'trap' })));
    const [flaky, trap] = await kernel.deadLetters(id);
    clock.advance(100_000n); // now the first one goes through
    const { messageId } = await kernel.requeue(id, flaky!.message.id);
    expect(messageId).toBeGreaterThan(trap!.message.id);
    await until('the requeued message is delivered', async () => (await invokes(kernel, id, messageId)) > 0);
    await kernel.send(id, { op: 'echo' });
    const outcome = (await kernel.journal(id)).find((e) => e.t === 'outcome' && e.messageId === messageId);
    expect(outcome).toMatchObject({ result: 'ok', value: expect.stringMatching(/^\{"at":"\d+"\}$/) });
    expect((await kernel.deadLetters(id)).map((l) => l.message.id)).toEqual([trap!.message.id]);
    expect(await codeOf(kernel.requeue(id, flaky!.message.id))).toMatch(
      /^AOS_E_DEAD_LETTER_NOT_FOUND: no dead letter/,
    );
    expect(await kernel.purgeDeadLetters(id)).toBe(1);
    expect(await kernel.deadLetters()).toEqual([]);
  });

  it('keeps delivery attempts and dead letters across a restart', async () => {
    const home = tempHome();
    const first = await openKernel({ home, delivery: { attempts: 2, backoffMs: 60_000 } });
    const id = await probe(first);
    const { messageId } = first.post(id, { op: 'trap' });
    await until('the first attempt crashes', () => first.inspect(id).stats.crashes > 0);
    expect(first.inspect(id).mailbox).toBe(1); // backing off: still queued
    await first.close();
    kernel = await openKernel({ home, delivery: { attempts: 2, backoffMs: 1 } });
    await until('the message is dead-lettered', async () => (await kernel.deadLetters(id)).length > 0);
    expect(await kernel.deadLetters(id)).toMatchObject([{ message: { id: messageId }, attempts: 2 }]);
    await kernel.close();
    kernel = await openKernel({ home });
    expect(await kernel.deadLetters()).toHaveLength(1);
  });

  it('keeps mailboxes in memory when asked: fast, and lost with the process', async () => {
    const home = tempHome();
    const first = await openKernel({ home, mailboxes: 'memory' });
    const id = await probe(first);
    expect(await first.send(id, { op: 'echo', n: 1 })).toMatchObject({ body: { n: 1 } });
    first.suspend(id);
    first.post(id, { op: 'echo', n: 2 });
    await first.close();
    kernel = await openKernel({ home });
    expect(kernel.inspect(id).mailbox).toBe(0); // the queued message lived in memory only
    kernel.resume(id);
    expect(await kernel.send(id, { op: 'echo', n: 3 })).toMatchObject({ body: { n: 3 } });
  });

  it('hands queued messages over in batches, each still its own call in the journal', async () => {
    kernel = await openKernel();
    const id = await kernel.spawn(await sample('counter'), { grants: ['log', 'working-memory'] });
    kernel.suspend(id);
    const sends = [1, 2, 3, 4, 5].map((by) => kernel.send(id, { by }));
    kernel.resume(id);
    expect(await Promise.all(sends)).toEqual([
      { count: 1 },
      { count: 3 },
      { count: 6 },
      { count: 10 },
      { count: 15 },
    ]);
    const journal = (await kernel.journal(id)).filter((e) => ['invoke', 'hostcall', 'outcome'].includes(e.t));
    // One batch, each message its own call: its invoke, its three hostcalls (get, set, log) and
    // its outcome are stored together, in order.
    const shape = journal
      .map((e) => ({ invoke: 'I', hostcall: 'h', outcome: 'O' })[e.t as 'invoke'])
      .join('');
    expect(shape).toBe('IhhhO'.repeat(5));
    const bodies = journal
      .filter((e) => e.t === 'invoke')
      .map((e) => (e.t === 'invoke' ? e.message.body : ''));
    expect(bodies).toEqual([1, 2, 3, 4, 5].map((by) => JSON.stringify({ by })));
  });

  it('keeps a batch inside the command channel: queued messages near the size limit all go through, on one instance', async () => {
    kernel = await openKernel();
    const id = await kernel.spawn(await fixture('echo-wat'));
    kernel.suspend(id);
    const big = 'x'.repeat(900 * 1024);
    const sends = [0, 1, 2, 3, 4].map((i) => kernel.send(id, `${i}${big}`));
    kernel.resume(id);
    const out = (await Promise.all(sends)) as string[];
    expect(out.map((o) => [o[0], o.length])).toEqual([0, 1, 2, 3, 4].map((i) => [String(i), big.length + 1]));
    expect(kernel.inspect(id)).toMatchObject({ generation: 1, state: 'ready' });
  });

  it('after a batch loses its worker, hands its messages over one at a time, then batches again', async () => {
    // On a manual clock each sleep ends only when the test moves the clock on: the thread exits
    // while the batch's first message is surely in its sleep, and the journal's times say which
    // outcomes were settled together (a batch's, when its command returns).
    const clock = new ManualClock(0n);
    kernel = await openKernel({ clock, delivery: { backoffMs: 0 } });
    const id = await probe(kernel);
    /** Waits until `n` sleeps wait on the clock, then moves it on by `ms`. */
    const wake = async (n: number, ms: bigint): Promise<void> => {
      await until(`${n} sleeps wait`, () => clock.pending === n);
      clock.advance(ms);
    };
    kernel.suspend(id);
    const first = [1, 2, 3].map(() => kernel.send(id, { op: 'sleep', ms: 200 }));
    kernel.resume(id);
    // The batch's first message is in its sleep (a blocking hostcall): its call has begun.
    await until('the first message sleeps', () => kernel.inspect(id).running?.blocked === true);
    await exitWorkerThread(kernel, (slot) => slot.busy);
    // Then each message alone: the first waits beside the lost call's sleep, which stays on the
    // clock (the kernel was serving it when the worker went).
    await wake(2, 200n);
    await wake(1, 200n);
    await wake(1, 200n);
    expect(await Promise.all(first)).toEqual([{ slept: 200 }, { slept: 200 }, { slept: 200 }]);
    kernel.suspend(id);
    const again = [1, 2].map(() => kernel.send(id, { op: 'sleep', ms: 1 }));
    kernel.resume(id);
    await wake(1, 1n);
    await wake(1, 1n);
    expect(await Promise.all(again)).toEqual([{ slept: 1 }, { slept: 1 }]);
    const records = (await kernel.journal(id))
      .filter((e) => ['instance', 'invoke', 'outcome'].includes(e.t))
      .map((e) => `${{ instance: 'N', invoke: 'I', outcome: 'O' }[e.t as 'invoke']}${e.at}`);
    expect(records).toEqual([
      // The first instance; the lost batch (its first message started: I, its call was dropped: O).
      ...['N0', 'I0', 'O0'],
      // A new instance, and each message alone: its outcome comes before the next one starts.
      ...['N0', 'I0', 'O200', 'I200', 'O400', 'I400', 'O600'],
      // A batch again: the first outcome was settled with the second, once the command returned
      // (at 602), after the second message had started (at 601).
      ...['I600', 'O602', 'I601', 'O602'],
    ]);
  });

  it('with batch 1, hands over one message at a time', async () => {
    kernel = await openKernel({ delivery: { batch: 1 } });
    const id = await kernel.spawn(await sample('counter'), { grants: ['log', 'working-memory'] });
    kernel.suspend(id);
    const sends = [1, 2, 3].map((by) => kernel.send(id, { by }));
    kernel.resume(id);
    await Promise.all(sends);
    const journal = (await kernel.journal(id)).filter((e) => ['invoke', 'hostcall', 'outcome'].includes(e.t));
    expect(journal.map((e) => ({ invoke: 'I', hostcall: 'h', outcome: 'O' })[e.t as 'invoke']).join('')).toBe(
      'IhhhO'.repeat(3),
    );
  });

  it('stops a batch at a crash: the messages after it run later, in order', async () => {
    kernel = await openKernel({ delivery: { attempts: 1 } });
    const id = await probe(kernel);
    kernel.suspend(id);
    const a = kernel.send(id, { op: 'echo', n: 1 });
    const b = codeOf(kernel.send(id, { op: 'trap' }));
    const c = kernel.send(id, { op: 'echo', n: 3 });
    kernel.resume(id);
    expect(await a).toMatchObject({ body: { n: 1 } });
    expect(await b).toMatch(/^AOS_E_AGENT_CRASHED/);
    // A new instance, its heap rebuilt from the journal: the echo before the trap counts.
    expect(await c).toMatchObject({ body: { n: 3 }, handled: 2 });
    expect(kernel.inspect(id).generation).toBe(2);
  });

  it('tells the senders of a batch cut short by terminate', async () => {
    kernel = await openKernel({ delivery: { attempts: 1 } });
    const id = await probe(kernel);
    kernel.suspend(id);
    // Suspend takes a checkpoint, holding the agent meanwhile: the batch starts once it is kept.
    await until('the suspend checkpoint is kept', () => kernel.inspect(id).checkpoints.length === 1);
    const sends = [{ op: 'echo' }, { op: 'trap' }, { op: 'echo' }, { op: 'echo' }].map((m) =>
      codeOf(kernel.send(id, m)).catch((e: unknown) => `resolved: ${String(e)}`),
    );
    kernel.resume(id); // the four go over as one batch
    await kernel.terminate(id); // the batch keeps running; it stops at the trap
    const [first, second, third, fourth] = await Promise.all(sends);
    expect(first).toMatch(/^resolved/); // codeOf throws on success
    expect(second).toMatch(/^AOS_E_AGENT_CRASHED/);
    expect(third).toMatch(/^AOS_E_AGENT_TERMINATED/);
    expect(fourth).toMatch(/^AOS_E_AGENT_TERMINATED/);
    expect(kernel.inspect(id)).toMatchObject({ state: 'terminated', mailbox: 0 });
  });

  it('refuses bad delivery options', async () => {
    await expect(openKernel({ delivery: { attempts: 0 } })).rejects.toMatchObject({
      code: 'AOS_E_BAD_CONFIG',
    });
    await expect(openKernel({ delivery: { backoffMs: -1 } })).rejects.toMatchObject({
      code: 'AOS_E_BAD_CONFIG',
    });
    await expect(openKernel({ delivery: { batch: 0 } })).rejects.toMatchObject({ code: 'AOS_E_BAD_CONFIG' });
    await expect(openKernel({ mailboxes: 'disk' as 'memory' })).rejects.toMatchObject({
      code: 'AOS_E_BAD_CONFIG',
    });
  });
});
