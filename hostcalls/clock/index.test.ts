import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../kernel/base/clock.js';
import type { Kernel } from '../../kernel/kernel.js';
import { fixture, openKernel, PROBE_GRANTS, until } from '../../testing/harness.js';

let kernel: Kernel;

describe('clock', () => {
  it('reads the kernel clock, so a manual clock decides what the guest sees', async () => {
    const clock = new ManualClock(1_700_000_000_000n);
    kernel = await openKernel({ clock });
    const id = await kernel.spawn(await fixture('probe'), { grants: PROBE_GRANTS });
    expect(await kernel.send(id, { op: 'clock' })).toEqual({ now: '1700000000000', monotonic: '0' });
    clock.advance(1500n);
    expect(await kernel.send(id, { op: 'clock' })).toEqual({ now: '1700000001500', monotonic: '1500000000' });
    // The kernel's own timestamps use the same clock.
    expect(kernel.inspect(id).updatedAt).toBe(1_700_000_001_500);
  });

  it('gives the system time by default, and a monotonic clock that does not go back', async () => {
    kernel = await openKernel();
    const id = await kernel.spawn(await fixture('probe'), { grants: PROBE_GRANTS });
    const before = Date.now();
    const a = (await kernel.send(id, { op: 'clock' })) as { now: string; monotonic: string };
    const b = (await kernel.send(id, { op: 'clock' })) as { now: string; monotonic: string };
    expect(Number(a.now)).toBeGreaterThanOrEqual(before);
    expect(Number(a.now)).toBeLessThanOrEqual(Date.now());
    expect(BigInt(b.monotonic)).toBeGreaterThanOrEqual(BigInt(a.monotonic));
  });

  it('sleeps on the kernel clock: a manual clock wakes the agent only when it is advanced', async () => {
    const clock = new ManualClock(10_000n);
    kernel = await openKernel({ clock });
    const id = await kernel.spawn(await fixture('probe'), { grants: PROBE_GRANTS });
    expect(clock.pending).toBe(0);
    const call = kernel.send(id, { op: 'sleep', ms: 500 });
    await until('the agent blocks in clock.sleep', () => kernel.inspect(id).running?.blocked === true);
    // The sleep waits on the manual clock, and 499 ms of it do not wake it: advance wakes what is
    // due at once, so a woken sleep would have left the clock's list.
    expect(clock.pending).toBe(1);
    clock.advance(499n);
    expect(clock.pending).toBe(1);
    expect(kernel.inspect(id).running?.blocked).toBe(true);
    clock.advance(1n);
    expect(clock.pending).toBe(0);
    expect(await call).toEqual({ slept: 500 });
    const sleeps = (await kernel.journal(id)).filter((e) => e.t === 'hostcall' && e.fn === 'clock.sleep');
    expect(sleeps).toMatchObject([{ args: [500], status: 0 }]);
    expect(kernel.inspect(id).stats.blockedUs).toBeGreaterThan(0);
  });

  it('is refused at spawn when not granted', async () => {
    kernel = await openKernel();
    await expect(
      kernel.spawn(await fixture('probe'), { grants: ['log', 'random', 'working-memory'] }),
    ).rejects.toMatchObject({
      code: 'AOS_E_IMPORT_NOT_GRANTED',
      message: expect.stringContaining('imports agentos:kernel/clock@0.1.0 but was not granted clock'),
    });
  });
});

describe('clock across restarts', () => {
  it('keeps an agent’s monotonic clock from going back when the kernel restarts', async () => {
    const { tempHome } = await import('../../testing/harness.js');
    const home = tempHome();
    const first = new ManualClock(1_000n);
    first.advance(5_000n);
    kernel = await openKernel({ home, clock: first });
    const id = await kernel.spawn(await fixture('probe'), { grants: PROBE_GRANTS });
    const before = (await kernel.send(id, { op: 'clock' })) as { monotonic: string };
    await kernel.close();
    // A new kernel's monotonic origin starts again at 0.
    kernel = await openKernel({ home, clock: new ManualClock(7_000n) });
    const after = (await kernel.send(id, { op: 'clock' })) as { monotonic: string };
    expect(BigInt(after.monotonic)).toBeGreaterThanOrEqual(BigInt(before.monotonic));
  });
});
