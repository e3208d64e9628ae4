import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Kernel } from './kernel.js';
import { codeOf } from './testing/expect-error.js';
import { fixture, openKernel, PROBE_GRANTS, sample, tempHome } from './testing/harness.js';

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
    kernel = await openKernel({ workers: 2 });
    const k = kernel;
    // Placement: a new agent takes the free worker with the fewest residents.
    const busy = await k.spawn(await fixture('probe'), { grants: PROBE_GRANTS }); // worker 1
    const other = await k.spawn(await sample('echo'), { grants: ['log'] }); // worker 2
    const idle = await k.spawn(await sample('echo'), { grants: ['log'] }); // worker 1
    const order: string[] = [];
    const spin = k.send(busy, { op: 'spin', n: 3_000_000 }).then(() => order.push('spin'));
    await new Promise((r) => setTimeout(r, 20));
    await k.terminate(idle);
    await k.send(other, 'quick').then(() => order.push('quick'));
    await spin;
    expect(order).toEqual(['quick', 'spin']);
    expect(k.inspect(idle)).toMatchObject({ state: 'terminated', resident: false });
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
    for (const end = Date.now() + 5000; kernel.inspect(late).stats.invocations < 1; ) {
      if (Date.now() > end) throw new Error(`the broadcast waits in ${late}'s mailbox`);
      await new Promise((r) => setTimeout(r, 5));
    }
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
    await new Promise((r) => setTimeout(r, 20));
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
    await new Promise((r) => setTimeout(r, 50));
    expect(kernel.inspect(id)).toMatchObject({ state: 'ready', mailbox: 1, stats: { invocations: 0 } });
  });
});
