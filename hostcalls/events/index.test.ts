import { describe, expect, it } from 'vitest';
import type { Kernel } from '../../kernel/kernel.js';
import { codeOf } from '../../testing/expect-error.js';
import { fixture, openKernel, PROBE_GRANTS, until } from '../../testing/harness.js';

let kernel: Kernel;

const watcher = async (k: Kernel, grant = 'events'): Promise<string> =>
  k.spawn(await fixture('watcher'), { grants: [grant] });

type Answer = { ok?: number | null; err?: { tag: string; val: string } };

describe('events.subscribe and unsubscribe, at their edges', () => {
  it('refuses prefixes too long, or outside a scoped grant (also "all" under a scope)', async () => {
    kernel = await openKernel();
    const w = await watcher(kernel, 'events:agent.');
    const sub = (prefixes: string[]): Promise<Answer> =>
      kernel.send(w, { op: 'subscribe', prefixes }) as Promise<Answer>;
    expect(await sub(['a'.repeat(129)])).toMatchObject({ err: { tag: 'invalid' } });
    expect(await sub(['quota.'])).toMatchObject({ err: { tag: 'denied' } });
    expect(await sub([])).toMatchObject({ err: { tag: 'denied' } });
    expect(await sub(['agent.crashed'])).toEqual({ ok: expect.any(Number) });
  });

  it('refuses to unsubscribe an id that is not the agent’s, or twice', async () => {
    kernel = await openKernel();
    const [a, b] = [await watcher(kernel), await watcher(kernel)];
    const { ok: id } = (await kernel.send(a, { op: 'subscribe', prefixes: ['agent.'] })) as Answer;
    const unsub = (who: string, n: number | null | undefined): Promise<Answer> =>
      kernel.send(who, { op: 'unsubscribe', id: n }) as Promise<Answer>;
    expect(await unsub(b, id)).toMatchObject({ err: { tag: 'not-found' } });
    expect(await unsub(a, 999_999)).toMatchObject({ err: { tag: 'not-found' } });
    expect(await unsub(a, id)).toEqual({ ok: undefined });
    expect(await unsub(a, id)).toMatchObject({ err: { tag: 'not-found' } });
  });

  it('takes no subscription from a call that crashes, and none from one that took it back', async () => {
    kernel = await openKernel({ delivery: { attempts: 1 } });
    const w = await watcher(kernel);
    const crashed = kernel.send(w, {
      op: 'calls',
      calls: [{ op: 'subscribe', prefixes: ['agent.spawned'] }, { op: 'trap' }],
    });
    expect(await codeOf(crashed)).toMatch(/^AOS_E_AGENT_CRASHED/);
    const { ok: id } = (await kernel.send(w, { op: 'subscribe', prefixes: ['agent.spawned'] })) as Answer;
    // The crashed call drew the id before it (ids are given as subscriptions are made), never
    // taken: unsubscribing it is not-found.
    expect(await kernel.send(w, { op: 'unsubscribe', id: (id as number) - 1 })).toMatchObject({
      err: { tag: 'not-found' },
    });
    // A call that subscribes and unsubscribes the same subscription leaves none.
    const both = [
      { op: 'subscribe', prefixes: ['agent.spawned'] },
      { op: 'unsubscribe', id: (id as number) + 1 },
    ];
    expect(await kernel.send(w, { op: 'calls', calls: both })).toEqual([
      { ok: (id as number) + 1 },
      { ok: undefined },
    ]);
    // Exactly one subscription stands (the second call's): one copy of the next spawn's event.
    // An event is handed to every subscription in one pass as it is raised, so a second copy
    // would be queued right behind the first, before the inbox request that sees the first: the
    // answer that ends the wait holds every copy there is.
    const spawned = await kernel.spawn(await fixture('probe'), { grants: PROBE_GRANTS });
    let inbox: { kind: string; agent: string }[] = [];
    await until('the event arrived', async () => {
      inbox = (await kernel.send(w, { op: 'inbox' })) as typeof inbox;
      return inbox.length > 0;
    });
    expect(inbox).toEqual([expect.objectContaining({ kind: 'agent.spawned', agent: spawned })]);
  });
});
