import { describe, expect, it } from 'vitest';
import { codeOf } from '../testing/expect-error.js';
import { fixture, openKernel, PROBE_GRANTS, until } from '../testing/harness.js';
import { type Clock, ManualClock, systemClock, timersOf } from './base/clock.js';
import type { Kernel } from './kernel.js';

let kernel: Kernel;

type Inbox = { kind: string; sender: string | null; body: Record<string, unknown> }[];

describe('one clock', () => {
  it('fires a manual clock’s timers as it advances, earliest first, and cancels them', async () => {
    const clock = new ManualClock(0n);
    const fired: string[] = [];
    clock.after(30, () => fired.push('30'));
    const cancel = clock.after(10, () => fired.push('cancelled'));
    clock.after(20, () => fired.push('20'));
    cancel();
    clock.advance(25n);
    expect(fired).toEqual(['20']);
    clock.advance(5n);
    expect(fired).toEqual(['20', '30']);
    expect(clock.pending).toBe(0);
  });

  it('builds timers on the sleep of a clock that has none', async () => {
    const manual = new ManualClock(0n);
    const sleepOnly: Clock = {
      now: () => manual.now(),
      monotonic: () => 0n,
      sleep: (ms) => manual.sleep(ms),
    };
    const fired: number[] = [];
    const timers = timersOf(sleepOnly);
    timers.after(10, () => fired.push(10));
    const cancel = timers.after(5, () => fired.push(5));
    cancel();
    manual.advance(10n);
    await new Promise((r) => setImmediate(r));
    expect(fired).toEqual([10]);
    expect(typeof timersOf(systemClock).after).toBe('function');
  });

  it('times a send out on the kernel clock, not on the wall clock', async () => {
    const clock = new ManualClock(1_000n);
    kernel = await openKernel({ clock });
    const id = await kernel.spawn(await fixture('probe'), { grants: PROBE_GRANTS });
    const other = await kernel.spawn(await fixture('probe'), { grants: PROBE_GRANTS });
    kernel.suspend(id);
    let settled = false;
    const out = codeOf(kernel.send(id, { op: 'echo' }, { timeoutMs: 100 })).finally(() => {
      settled = true;
    });
    // Wall time passes and the kernel works meanwhile; the kernel clock has moved 99 ms.
    clock.advance(99n);
    for (let i = 0; i < 3; i++) await kernel.send(other, { op: 'echo', i });
    expect(settled).toBe(false);
    clock.advance(1n);
    expect(await out).toMatch(/^AOS_E_TIMED_OUT: no outcome from .* within 100 ms/);
  });

  it('never sends a requester both ipc.timeout and ipc.reply: the timeout and the reply deadline read one clock', async () => {
    const clock = new ManualClock(1_000n);
    kernel = await openKernel({ clock });
    const spawn = async (name: string): Promise<string> =>
      kernel.spawn(await fixture('messenger'), { grants: ['ipc'], name });
    const a = await spawn('a');
    const b = await spawn('b');
    kernel.suspend(b);
    await kernel.send(a, { op: 'request', to: b, kind: 'task', body: 1, timeoutMs: 50 });
    // More than the timeout passes on the wall clock, none on the kernel clock: no timeout. This
    // wall-clock sleep is the point of the check (a timer on the wall clock would fire in it),
    // so it stays a real one.
    await new Promise((r) => setTimeout(r, 200));
    kernel.resume(b);
    await kernel.send(b, { op: 'inbox' }); // b has answered the request by now
    let got: Inbox = [];
    const inboxOfA = (n: number) => async (): Promise<boolean> => {
      got = (await kernel.send(a, { op: 'inbox' })) as Inbox;
      return got.length >= n;
    };
    await until('a has the reply', inboxOfA(1));
    expect(got.map((m) => m.kind)).toEqual(['ipc.reply']);
    // Then a request whose time does run out on the kernel clock: only ipc.timeout.
    kernel.suspend(b);
    await kernel.send(a, { op: 'request', to: b, kind: 'task', body: 2, timeoutMs: 50 });
    clock.advance(51n);
    await until('a has the timeout', inboxOfA(2));
    expect(got.map((m) => m.kind)).toEqual(['ipc.reply', 'ipc.timeout']);
    kernel.resume(b);
    await kernel.send(b, { op: 'inbox' });
    await kernel.send(b, { op: 'inbox' });
    expect(((await kernel.send(a, { op: 'inbox' })) as Inbox).map((m) => m.kind)).toEqual([
      'ipc.reply',
      'ipc.timeout',
    ]);
  });
});
