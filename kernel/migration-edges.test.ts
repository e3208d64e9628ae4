/**
 * Migration at its edges: bundles whose settings, journal or messages this kernel would trip
 * over (refused, or taken as spawn resolves them, nothing half-stored), a state of another
 * AgentOS build, a mailbox limit lowered below the queue, the return trip to a data dir the agent
 * left, and what a waiting sender is told when its message moved.
 */
import { describe, expect, it } from 'vitest';
import { codeOf } from '../testing/expect-error.js';
import { fixture, openKernel, PROBE_GRANTS, sample } from '../testing/harness.js';
import { AgentOSError } from './base/errors.js';
import type { Kernel } from './kernel.js';
import { decodeAgentBundle, encodeAgentBundle } from './replay/agent-bundle.js';

const COUNTER = ['log', 'working-memory'];

async function counter(k: Kernel, by: number): Promise<string> {
  const id = await k.spawn(await sample('counter'), { grants: COUNTER });
  await k.send(id, { by });
  return id;
}

/** Nothing of agent `id` is stored in `k`. */
async function nothingOf(k: Kernel, id: string): Promise<void> {
  expect(k.list().map((a) => a.id)).not.toContain(id);
  expect(await codeOf(k.journal(id))).toMatch(/^AOS_E_AGENT_NOT_FOUND/);
}

describe('migration at its edges', () => {
  it('keeps the limits, priority and weight as spawn resolves them, not as the bundle spelt them', async () => {
    const a = await openKernel();
    const id = await counter(a, 2);
    const contents = decodeAgentBundle(await a.export(id), 'b');
    const b = await openKernel();
    const record = {
      ...contents.record,
      limits: {} as typeof contents.record.limits,
    } as typeof contents.record;
    delete (record as Partial<typeof record>).priority;
    await b.import(encodeAgentBundle({ ...contents, record }));
    expect(b.inspect(id)).toMatchObject({
      priority: 'normal',
      weight: 1,
      limits: { mailbox: expect.any(Number) },
    });
    expect(await b.send(id, { by: 1 })).toEqual({ count: 3 });
  });

  it('refuses a journal, a message or a state this kernel would trip over, storing nothing', async () => {
    const a = await openKernel();
    const id = await a.spawn(await fixture('probe'), { grants: PROBE_GRANTS });
    for (let i = 0; i < 3; i++) await a.send(id, { op: 'echo', i });
    a.suspend(id);
    a.post(id, { op: 'echo', i: 'queued' });
    const good = await a.export(id);
    const contents = decodeAgentBundle(good, 'b');
    const invoke = { t: 'invoke', at: 0, seq: contents.next } as unknown as (typeof contents.entries)[0];
    const cases: [string, Uint8Array, RegExp][] = [
      [
        'an invocation without its message',
        encodeAgentBundle({ ...contents, entries: [...contents.entries, invoke], next: contents.next + 1 }),
        /^AOS_E_BAD_BUNDLE: .*not an invocation record/,
      ],
      [
        'a message that is not JSON',
        encodeAgentBundle({ ...contents, messages: [{ kind: 'text', body: '{nope' }] }),
        /^AOS_E_BAD_BUNDLE: .*not JSON/,
      ],
      [
        'a message with no kind',
        encodeAgentBundle({ ...contents, messages: [{ kind: '', body: '{}' }] }),
        /^AOS_E_BAD_MESSAGE/,
      ],
      [
        'a state of another build, its journal before it pruned',
        encodeAgentBundle({
          ...contents,
          checkpoints: contents.checkpoints.map((c) => ({ ...c, build: 'jco0.0.0-fuel0-glue0' })),
        }),
        /^AOS_E_BAD_STATE: .*another AgentOS build/,
      ],
    ];
    const b = await openKernel();
    for (const [what, bytes, want] of cases) {
      const got = await b.import(bytes).then(
        () => 'imported',
        (e: AgentOSError) => `${e.code}: ${e.message}`,
      );
      expect(got, what).toMatch(want);
      await nothingOf(b, id);
    }
    // A kernel that takes smaller messages refuses the queued one, and stores nothing.
    const small = await openKernel({ maxMessageBytes: 16 });
    expect(await codeOf(small.import(good))).toMatch(/^AOS_E_MESSAGE_TOO_LARGE/);
    await nothingOf(small, id);
    expect(await b.import(good)).toMatchObject({ id, state: 'suspended', messages: 1 });
  });

  it('takes every queued message, even past a mailbox limit lowered since; a waiting sender is told it moved', async () => {
    const a = await openKernel();
    const id = await counter(a, 1);
    a.suspend(id);
    const waiting = a.send(id, { by: 10 }).catch((e: unknown) => e);
    for (let i = 0; i < 4; i++) a.post(id, { by: 1 });
    a.configure(id, { limits: { mailbox: 2 } });
    const bytes = await a.export(id);
    const told = (await waiting) as AgentOSError;
    expect(told).toBeInstanceOf(AgentOSError);
    expect(told).toMatchObject({ code: 'AOS_E_AGENT_EXPORTED', details: { moved: true } });
    // Sent after the export: refused, not moved.
    const refused = (await a.send(id, { by: 1 }).catch((e: unknown) => e)) as AgentOSError;
    expect(refused.code).toBe('AOS_E_AGENT_EXPORTED');
    expect(refused.details).not.toHaveProperty('moved');

    const b = await openKernel();
    expect(await b.import(bytes)).toMatchObject({ messages: 5 });
    b.configure(id, { limits: { mailbox: 100 } });
    b.resume(id);
    expect(await b.send(id, { by: 0 })).toEqual({ count: 15 });
  });

  it('refuses an export whose state is over maxResultBytes; the agent stays, counting on', async () => {
    const a = await openKernel({ maxResultBytes: 4096 });
    const id = await counter(a, 2);
    expect(await codeOf(a.export(id))).toMatch(/^AOS_E_RESULT_TOO_LARGE/);
    expect(a.inspect(id).state).toBe('ready');
    expect(await a.send(id, { by: 1 })).toEqual({ count: 3 });
  });

  it('comes back to a data dir it left, and counts on there', async () => {
    const a = await openKernel();
    const b = await openKernel();
    const id = await counter(a, 3);
    await b.import(await a.export(id));
    expect(await b.send(id, { by: 1 })).toEqual({ count: 4 });
    await a.import(await b.export(id));
    expect(await a.send(id, { by: 1 })).toEqual({ count: 5 });
    expect(a.inspect(id)).toMatchObject({ state: 'ready' });
    expect(a.inspect(id).exported).toBeUndefined();
    expect(await a.replay(id)).toMatchObject({ identical: true });
    // Live here again: a second import of a bundle of it is refused.
    expect(await codeOf(a.import(await b.record({ agents: [] })))).toMatch(/^AOS_E_BAD_BUNDLE/);
  });
});
