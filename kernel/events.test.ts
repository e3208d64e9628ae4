import { describe, expect, it } from 'vitest';
import { codeOf } from '../testing/expect-error.js';
import { fixture, openKernel, PROBE_GRANTS, until } from '../testing/harness.js';
import type { Kernel } from './kernel.js';
import type { KernelEvent } from './store/events.js';

let kernel: Kernel;

/** Collects events from the kernel's iterator in the background. */
function collect(k: Kernel, prefixes?: string[]): { events: KernelEvent[]; done: Promise<void> } {
  const events: KernelEvent[] = [];
  const it = k.events(prefixes ? { prefixes } : {});
  const done = (async () => {
    for await (const e of it) events.push(e);
  })();
  return { events, done };
}

describe('kernel events', () => {
  it('streams lifecycle events to the embedder, and keeps them for recentEvents', async () => {
    kernel = await openKernel({ delivery: { attempts: 1 } });
    const agentEvents = collect(kernel, ['agent.']);
    const all = collect(kernel);
    const id = await kernel.spawn(await fixture('probe'), { grants: PROBE_GRANTS });
    kernel.suspend(id);
    kernel.resume(id);
    await codeOf(kernel.send(id, { op: 'trap' }));
    await kernel.terminate(id);
    await until('five agent events', () => agentEvents.events.length >= 5);
    expect(agentEvents.events.map((e) => [e.kind, e.agent])).toEqual([
      ['agent.spawned', id],
      ['agent.suspended', id],
      ['agent.resumed', id],
      ['agent.crashed', id],
      ['agent.terminated', id],
    ]);
    expect(all.events.map((e) => e.kind)).toContain('message.dead-lettered');
    const stored = await kernel.recentEvents();
    expect(stored.map((e) => e.seq)).toEqual(all.events.map((e) => e.seq));
    expect(stored.map((e) => e.seq)).toEqual([...stored.map((e) => e.seq)].sort((a, b) => a - b));
    await kernel.close();
    await agentEvents.done; // the iterator ends when the kernel closes
  });

  it('reports quotas hit: a full mailbox and a fuel budget', async () => {
    kernel = await openKernel({ delivery: { attempts: 1 } });
    const quota = collect(kernel, ['quota.']);
    const id = await kernel.spawn(await fixture('probe'), {
      grants: PROBE_GRANTS,
      limits: { mailbox: 1, fuel: { invocation: 50_000_000 } },
    });
    kernel.suspend(id);
    kernel.post(id, { op: 'forever' });
    await codeOf(() => kernel.post(id, { op: 'echo' }));
    kernel.resume(id);
    await until('two quota events', () => quota.events.length >= 2);
    expect(quota.events).toMatchObject([
      { kind: 'quota.hit', agent: id, detail: { quota: 'mailbox', limit: 1 } },
      { kind: 'quota.hit', agent: id, detail: { code: 'AOS_E_FUEL_EXHAUSTED', budgetKind: 'invocation' } },
    ]);
  });

  it('delivers events to agents granted `events`, within what the grant allows', async () => {
    kernel = await openKernel({ delivery: { attempts: 1 } });
    const watcher = await kernel.spawn(await fixture('watcher'), { grants: ['events'] });
    expect(await kernel.send(watcher, { op: 'subscribe', prefixes: ['agent.crashed'] })).toEqual({ ok: 1 });
    const id = await kernel.spawn(await fixture('probe'), { grants: PROBE_GRANTS });
    await codeOf(kernel.send(id, { op: 'trap' }));
    let inbox: { kind: string; agent: string }[] = [];
    await until('the watcher gets the crash', async () => {
      inbox = (await kernel.send(watcher, { op: 'inbox' })) as typeof inbox;
      return inbox.length > 0;
    });
    expect(inbox).toMatchObject([{ kind: 'agent.crashed', agent: id }]);
    const recent = (await kernel.send(watcher, { op: 'recent', after: 0, limit: 100 })) as {
      ok: { kind: string }[];
    };
    expect(recent.ok.map((e) => e.kind)).toContain('agent.spawned');

    const scoped = await kernel.spawn(await fixture('watcher'), { grants: ['events:quota.'] });
    expect(await kernel.send(scoped, { op: 'subscribe', prefixes: ['agent.'] })).toMatchObject({
      err: { tag: 'denied' },
    });
    // A quota event among the agent events already stored: the scoped reader must get it, and
    // only it.
    const full = await kernel.spawn(await fixture('probe'), { grants: PROBE_GRANTS, limits: { mailbox: 1 } });
    kernel.suspend(full);
    kernel.post(full, { op: 'echo' });
    await codeOf(() => kernel.post(full, { op: 'echo' }));
    type Seen = { ok: { kind: string; agent: string | null }[] };
    const read = async (who: string): Promise<Seen> =>
      (await kernel.send(who, { op: 'recent', after: 0, limit: 100 })) as Seen;
    let seen: Seen = { ok: [] };
    await until('the quota event is stored', async () => {
      seen = await read(scoped);
      return seen.ok.length > 0;
    });
    expect(seen.ok).toMatchObject([{ kind: 'quota.hit', agent: full }]);
    const everything = (await read(watcher)).ok.map((e) => e.kind);
    expect(everything).toContain('quota.hit');
    expect(everything).toContain('agent.suspended');
  });
});
