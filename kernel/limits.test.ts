import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { codeOf } from '../testing/expect-error.js';
import { fuelSequence } from '../testing/fuel-sequence.js';
import { fixture, openKernel, PROBE_GRANTS, sample, tempHome, until } from '../testing/harness.js';
import { ManualClock } from './base/clock.js';
import { packageRoot } from './base/paths.js';
import { DEFAULT_TICK } from './exec/budgets.js';
import type { Kernel } from './kernel.js';

let kernel: Kernel;

/** One delivery per message: these tests are about what ends a call, not about retries. */
const ONCE = { delivery: { attempts: 1 } };

const probe = async (k: Kernel, options: Parameters<Kernel['spawn']>[1] = {}): Promise<string> =>
  k.spawn(await fixture('probe'), { grants: PROBE_GRANTS, ...options });

describe('fuel budgets stop runaway compute', () => {
  it('ends a JS infinite loop within its budget; the kernel and other agents carry on', async () => {
    kernel = await openKernel(ONCE);
    const budget = 200_000_000;
    const hog = await probe(kernel, { limits: { fuel: { invocation: budget } } });
    const echo = await kernel.spawn(await sample('echo'), { grants: ['log'] });
    const [stopped, answer] = await Promise.all([
      codeOf(kernel.send(hog, { op: 'forever' })),
      kernel.send(echo, 'hi'),
    ]);
    const used =
      /^AOS_E_FUEL_EXHAUSTED: probe-[\w-]+: fuel exhausted: used (\d+) of its invocation budget of 200000000; dead-lettered at once: it would exhaust the same per-invocation fuel budget again$/.exec(
        stopped,
      );
    expect(used, stopped).not.toBeNull();
    // The meter checks in once a tick: a call may pass its budget by less than one.
    expect(Number(used![1])).toBeGreaterThanOrEqual(budget);
    expect(Number(used![1])).toBeLessThan(budget + DEFAULT_TICK);
    expect(answer).toBe('hi');
    const info = kernel.inspect(hog);
    expect(info).toMatchObject({
      state: 'crashed',
      resident: false,
      lastError: { code: 'AOS_E_FUEL_EXHAUSTED' },
    });
    expect(info.stats.limits).toEqual({ AOS_E_FUEL_EXHAUSTED: 1 });
    expect(info.stats.fuel).toBeGreaterThan(budget);
    // The next message gets a fresh instance.
    expect(await kernel.send(hog, { op: 'state' })).toEqual({ handled: 1 });
  });

  it('ends a compiled infinite loop, with the budget in the error details', async () => {
    kernel = await openKernel(ONCE);
    const id = await kernel.spawn(await fixture('limits-wat'), {
      limits: { fuel: { invocation: 1_000_000 } },
    });
    const err = await kernel.send(id, 1).catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: 'AOS_E_FUEL_EXHAUSTED',
      details: { budget: 1_000_000, budgetKind: 'invocation' },
    });
    expect((err as { details: { used: number } }).details.used).toBeGreaterThanOrEqual(1_000_000);
    expect(await kernel.send(id, 'still here')).toBe('still here');
  });

  it('ends an invocation at its wall-clock deadline', async () => {
    kernel = await openKernel(ONCE);
    // The deadline is set once the instance is up: init on a loaded machine may take longer.
    const id = await probe(kernel);
    kernel.configure(id, { limits: { deadlineMs: 50 } });
    expect(await codeOf(kernel.send(id, { op: 'forever' }))).toMatch(
      /^AOS_E_DEADLINE: probe-[\w-]+: deadline passed: the invocation ran \d+ ms; dead-lettered after 1 attempt$/,
    );
  });

  it('uses exactly the same fuel for the same inputs, across instances, kernels and processes', async () => {
    const run = async (): Promise<number[]> => {
      const k = await openKernel(ONCE);
      try {
        return await fuelSequence(k);
      } finally {
        await k.close();
      }
    };
    const a = await run();
    expect(a.every((f) => f > 0)).toBe(true);
    expect(a[4]).toBe(a[5]); // the compiled compute, twice on one instance
    expect(await run()).toEqual(a);
    const child = join(packageRoot(), 'dist', 'testing', 'fuel-sequence-child.js');
    const out = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, [child], (err, stdout) => (err ? reject(err) : resolve(stdout))),
    );
    expect(JSON.parse(out)).toEqual(a);
  });
});

describe('memory and stack limits', () => {
  it('ends a JS memory bomb at the cap; the kernel is unaffected', async () => {
    kernel = await openKernel(ONCE);
    const id = await probe(kernel, { limits: { memoryBytes: 48 << 20 } });
    const err = await kernel.send(id, { op: 'hoard' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'AOS_E_MEMORY_LIMIT', details: { limit: 48 << 20 } });
    expect(kernel.inspect(id).stats.peakMemory).toBeLessThanOrEqual(48 << 20);
    expect(await kernel.send(id, { op: 'state' })).toEqual({ handled: 1 });
  });

  it('ends a compiled memory bomb at the cap', async () => {
    kernel = await openKernel(ONCE);
    const id = await kernel.spawn(await fixture('limits-wat'), { limits: { memoryBytes: 1 << 20 } });
    expect(await codeOf(kernel.send(id, 2))).toMatch(
      /^AOS_E_MEMORY_LIMIT: limits-wat-[\w-]+: memory limit: growing linear memory from \d+ by 1048576 bytes passes its cap of 1048576 bytes; dead-lettered after 1 attempt$/,
    );
  });

  it('refuses to start an instance whose initial memory is over the cap', async () => {
    kernel = await openKernel(ONCE);
    expect(await codeOf(probe(kernel, { limits: { memoryBytes: 1 << 20 } }))).toMatch(
      /^AOS_E_MEMORY_LIMIT: /,
    );
  });

  it('contains deep recursion: compiled with AOS_E_STACK_OVERFLOW, JS by the engine', async () => {
    kernel = await openKernel(ONCE);
    const wat = await kernel.spawn(await fixture('limits-wat'));
    expect(await codeOf(kernel.send(wat, 3))).toMatch(
      /^AOS_E_STACK_OVERFLOW: limits-wat-[\w-]+: RangeError: Maximum call stack/,
    );
    const js = await probe(kernel);
    expect(await codeOf(kernel.send(js, { op: 'recurse' }))).toMatch(/^AOS_E_AGENT_CRASHED: /);
    expect(await kernel.send(wat, 'fine')).toBe('fine');
    expect(await kernel.send(js, { op: 'state' })).toEqual({ handled: 1 });
  });
});

describe('window and lifetime budgets', () => {
  it('holds an agent past its fuel per second until the next window', async () => {
    const clock = new ManualClock(1_000_000n);
    kernel = await openKernel({ ...ONCE, clock });
    // A window of two echoes' fuel (the first on a fresh instance, the dearest): six take more.
    const meter = await probe(kernel);
    await kernel.send(meter, { op: 'echo', i: 0 });
    const [echo] = (await kernel.journal(meter)).flatMap((e) => (e.t === 'outcome' ? [e.fuel] : []));
    const perSecond = 2 * echo!;
    const id = await probe(kernel, { limits: { fuel: { perSecond } } });
    const sends = [1, 2, 3, 4, 5, 6].map((i) => kernel.send(id, { op: 'echo', i }));
    await sends[0];
    // Held: nothing runs, and its wake-up waits on the manual clock.
    const held = (): boolean => kernel.inspect(id).running === null && clock.pending >= 1;
    await until('the agent is held until the next window', held);
    const first = kernel.inspect(id);
    expect(first.mailbox).toBeGreaterThan(0);
    expect(first.fuelWindow.start).toBe(1_000_000);
    expect(first.fuelWindow.fuel).toBeGreaterThanOrEqual(perSecond);
    expect(first.stats.invocations).toBeLessThan(6);
    // Each window lets some through, and only the clock opens the next one.
    for (let window = 1; window <= 12 && kernel.inspect(id).mailbox > 0; window++) {
      const before = kernel.inspect(id).stats.invocations;
      clock.advance(1000n);
      await until(`window ${window} is spent`, () => kernel.inspect(id).mailbox === 0 || held());
      expect(kernel.inspect(id).stats.invocations).toBeGreaterThan(before);
    }
    expect(await Promise.all(sends)).toHaveLength(6);
  });

  it('suspends an agent past its lifetime budget, keeps the message, and goes on once raised', async () => {
    kernel = await openKernel(ONCE);
    const id = await probe(kernel, { limits: { fuel: { lifetime: 20_000_000 } } });
    let err: unknown;
    for (let i = 0; i < 100 && !err; i++)
      err = await kernel.send(id, { op: 'spin', n: 2000 }).then(
        () => null,
        (e) => e,
      );
    expect(err).toMatchObject({ code: 'AOS_E_FUEL_EXHAUSTED', details: { budgetKind: 'lifetime' } });
    expect(kernel.inspect(id)).toMatchObject({ state: 'suspended', mailbox: 1 });
    kernel.configure(id, { limits: { fuel: { lifetime: null } } });
    kernel.resume(id);
    expect(await kernel.send(id, { op: 'state' })).toMatchObject({ handled: expect.any(Number) });
    expect(kernel.inspect(id)).toMatchObject({ state: 'ready', mailbox: 0 });
  });
});

describe('quotas and settings', () => {
  it('refuses a message past the mailbox limit and loses none that were queued', async () => {
    kernel = await openKernel(ONCE);
    const id = await probe(kernel, { limits: { mailbox: 2 } });
    kernel.suspend(id);
    const a = kernel.send(id, { op: 'echo', n: 1 });
    const b = kernel.send(id, { op: 'echo', n: 2 });
    expect(await codeOf(kernel.send(id, { op: 'echo', n: 3 }))).toMatch(
      new RegExp(
        `^AOS_E_QUOTA_EXCEEDED: ${id}'s mailbox is full \\(2 messages, its limit is 2\\); retry later$`,
      ),
    );
    expect(kernel.mailbox(id)).toHaveLength(2);
    kernel.resume(id);
    expect(await Promise.all([a, b])).toMatchObject([{ body: { n: 1 } }, { body: { n: 2 } }]);
  });

  it('limits hostcalls per capability: quota-exceeded to the guest, log lines dropped', async () => {
    const clock = new ManualClock(5_000n);
    kernel = await openKernel({ ...ONCE, clock });
    const id = await probe(kernel, { limits: { hostcallsPerSecond: { 'working-memory': 3, log: 2 } } });
    const gets = Array.from({ length: 5 }, () => ['get', 'k']);
    const denied = {
      err: { tag: 'quota-exceeded', val: 'working-memory allows 3 calls per second to this agent' },
    };
    expect(await kernel.send(id, { op: 'wm', calls: gets })).toEqual([
      { ok: null },
      { ok: null },
      { ok: null },
      denied,
      denied,
    ]);
    clock.advance(1000n);
    expect(await kernel.send(id, { op: 'wm', calls: gets.slice(0, 3) })).toEqual([
      { ok: null },
      { ok: null },
      { ok: null },
    ]);
    expect(await kernel.send(id, { op: 'loop', n: 5 })).toBe(5); // 5 log lines, 3 dropped, no trap
    const info = kernel.inspect(id);
    expect(info.stats.limits).toEqual({ 'rate:working-memory': 2, 'rate:log': 3 });
    expect(info.stats.hostcalls).toMatchObject({ 'working-memory': 8, log: 5 });
    expect(info.state).toBe('ready');
  });

  it('refuses bad limits, priorities and weights at spawn and configure, changing nothing', async () => {
    kernel = await openKernel(ONCE);
    const path = await fixture('probe');
    const bad: [object, RegExp][] = [
      [
        { limits: { fuel: { invocation: -1 } } },
        /limits\.fuel\.invocation must be a positive integer, got -1/,
      ],
      [{ limits: { fuel: { invocation: 1.5 } } }, /must be a positive integer, got 1.5/],
      [{ limits: { memory: 1 } }, /limits has no option "memory"/],
      [{ limits: { fuel: 5 } }, /limits\.fuel must be an object, got 5/],
      [{ limits: { hostcallsPerSecond: { log: 0 } } }, /hostcallsPerSecond\.log must be a positive number/],
      [{ priority: 'urgent' }, /priority must be one of interactive, normal, batch, idle, got "urgent"/],
      [{ weight: 0 }, /weight must be a positive number, got 0/],
      [{ weight: 5000 }, /weight must be at most 1000/],
    ];
    for (const [options, why] of bad) {
      expect(await codeOf(kernel.spawn(path, { grants: PROBE_GRANTS, ...options }))).toMatch(why);
      expect(await codeOf(kernel.spawn(path, { grants: PROBE_GRANTS, ...options }))).toMatch(
        /^AOS_E_BAD_CONFIG: /,
      );
    }
    expect(kernel.list()).toHaveLength(0);
    const id = await probe(kernel, { limits: { mailbox: 5 }, priority: 'batch', weight: 2 });
    const before = kernel.inspect(id);
    expect(await codeOf(() => kernel.configure(id, { limits: { mailbox: 10 }, weight: -1 }))).toMatch(
      /^AOS_E_BAD_CONFIG: weight/,
    );
    expect(kernel.inspect(id)).toMatchObject({ limits: before.limits, weight: 2, priority: 'batch' });
    expect(kernel.configure(id, { limits: { mailbox: 10 }, priority: 'interactive' })).toMatchObject({
      limits: { mailbox: 10, fuel: before.limits.fuel },
      priority: 'interactive',
      weight: 2,
    });
  });

  it('keeps limits and accounting across a restart', async () => {
    const home = tempHome();
    const first = await openKernel({ ...ONCE, home });
    const id = await probe(first, { limits: { fuel: { invocation: 123_456_789 } }, priority: 'idle' });
    await first.send(id, { op: 'echo' });
    const stats = first.inspect(id).stats;
    await first.close();
    const again = await openKernel({ ...ONCE, home });
    expect(again.inspect(id)).toMatchObject({
      limits: { fuel: { invocation: 123_456_789 } },
      priority: 'idle',
      stats: { fuel: stats.fuel, peakMemory: stats.peakMemory },
    });
  });
});
