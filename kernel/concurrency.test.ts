import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { codeOf } from '../testing/expect-error.js';
import { fixture, openKernel, PROBE_GRANTS, sample, tempHome, until } from '../testing/harness.js';
import { ManualClock } from './base/clock.js';
import type { Kernel } from './kernel.js';

let kernel: Kernel | undefined;

describe('one kernel per data dir', () => {
  it('refuses a second kernel on the same data dir until the first closes', async () => {
    const home = tempHome();
    kernel = await openKernel({ home });
    expect(await codeOf(openKernel({ home }))).toMatch(
      /^AOS_E_DATA_DIR: data dir .* is already open in this process/,
    );
    await kernel.close();
    kernel = await openKernel({ home });
    expect(kernel.list()).toEqual([]);
  });

  it('takes over a lock left by a process that is gone', async () => {
    const home = tempHome();
    // pid 2^22 + 1 is above Linux's pid_max: no such process.
    writeFileSync(join(home, 'LOCK'), String(2 ** 22 + 1));
    kernel = await openKernel({ home });
    expect(kernel.list()).toEqual([]);
  });

  it('refuses a data dir held by a live process', async () => {
    const home = tempHome();
    writeFileSync(join(home, 'LOCK'), '1'); // init is always alive
    expect(await codeOf(openKernel({ home }))).toMatch(/^AOS_E_DATA_DIR: data dir .* is in use by process 1/);
  });
});

describe('workers are never held up by another worker', () => {
  it('terminating an idle agent on a busy worker does not delay agents on other workers', async () => {
    // Worker 1 is held by a call that ends only when the manual clock says so.
    const clock = new ManualClock(1_000n);
    kernel = await openKernel({ workers: 2, clock });
    const k = kernel;
    // Placement: a new agent takes the free worker with the fewest residents.
    const busy = await k.spawn(await fixture('probe'), { grants: PROBE_GRANTS }); // worker 1
    const other = await k.spawn(await sample('echo'), { grants: ['log'] }); // worker 2
    const idle = await k.spawn(await sample('echo'), { grants: ['log'] }); // worker 1
    const nap = k.send(busy, { op: 'sleep', ms: 1000 });
    await until('worker 1 is held', () => k.inspect(busy).running?.blocked === true);
    await k.terminate(idle);
    expect(await k.send(other, 'quick')).toBe('quick');
    // Neither waited for worker 1, which is still held.
    expect(k.inspect(busy).running).toMatchObject({ blocked: true });
    expect(k.inspect(idle).state).toBe('terminated');
    clock.advance(1000n);
    expect(await nap).toEqual({ slept: 1000 });
    // Its instance goes once worker 1 is free.
    await until('the idle agent is unloaded', () => !k.inspect(idle).resident);
  });
});

describe('spawn', () => {
  it('runs a message that reaches an agent still waiting for its first worker only after its start', async () => {
    kernel = await openKernel({ workers: 2, cpus: 2 });
    const sleepers = [
      await kernel.spawn(await fixture('probe'), { grants: PROBE_GRANTS, name: 'p1' }),
      await kernel.spawn(await fixture('probe'), { grants: PROBE_GRANTS, name: 'p2' }),
    ];
    const caster = await kernel.spawn(await fixture('messenger'), { grants: ['ipc'], name: 'caster' });
    // Both workers are held by sleeping calls; the broadcast waits for one.
    const naps = sleepers.map((id, i) => kernel!.send(id, { op: 'sleep', ms: 150 + 150 * i }));
    const cast = kernel.send(caster, { op: 'broadcast', kind: 'hello', body: 1 });
    // The new agent is live (the broadcast reaches it) but waits for a worker to start on.
    const spawned = kernel.spawn(await fixture('messenger'), { grants: ['ipc'], name: 'late' });
    const late = await spawned;
    await cast;
    await Promise.all(naps.map((p) => p.catch(() => null)));
    // Handled without any further message to wake it.
    await until(`the broadcast is handled in ${late}`, () => kernel!.inspect(late).stats.invocations >= 1);
    const inbox = (await kernel.send(late, { op: 'inbox' })) as { kind: string }[];
    // The broadcast was handled by the one instance spawn started, never on a second one at once.
    expect(inbox.map((m) => m.kind)).toEqual(['hello']);
    expect(kernel.inspect(late)).toMatchObject({ generation: 1, state: 'ready' });
    const starts = (await kernel.journal(late)).filter((e) => e.t === 'instance');
    expect(starts).toHaveLength(1);
  });
});

describe('close', () => {
  it('stops invocations that outlive closeTimeoutMs and keeps their messages for the next open', async () => {
    const home = tempHome();
    kernel = await openKernel({ home, closeTimeoutMs: 50 });
    const id = await kernel.spawn(await fixture('probe'), { grants: PROBE_GRANTS });
    const long = codeOf(kernel.send(id, { op: 'spin', n: 5_000_000 }));
    await until('the call is on its worker', () => kernel!.inspect(id).busy);
    await kernel.close();
    expect(await long).toMatch(/^AOS_E_KERNEL_CLOSED/);
    kernel = await openKernel({ home, deliver: false });
    expect(kernel.mailbox(id).map((m) => m.body)).toEqual(['{"op":"spin","n":5000000}']);
    expect(kernel.inspect(id)).toMatchObject({ state: 'ready', stats: { crashes: 0 } });
  });

  it('with deliver: false, looks without running anything', async () => {
    const home = tempHome();
    kernel = await openKernel({ home });
    const id = await kernel.spawn(await sample('counter'), { grants: ['log', 'working-memory'] });
    kernel.suspend(id);
    kernel.post(id, { by: 1 });
    await kernel.close();
    kernel = await openKernel({ home, deliver: false });
    kernel.resume(id);
    // Delivering, resume hands the message to a free worker before it returns (it pumps the
    // executor, which dispatches at once): nothing is busy, so nothing was handed out.
    expect(kernel.inspect(id)).toMatchObject({
      state: 'ready',
      busy: false,
      mailbox: 1,
      stats: { invocations: 0 },
    });
    await kernel.close();
    // The message was deliverable: once delivering, the kernel runs it without being asked.
    kernel = await openKernel({ home });
    const k = kernel;
    await until('the message is handled', () => k.inspect(id).stats.invocations === 1);
    expect(k.inspect(id).mailbox).toBe(0);
  });
});
