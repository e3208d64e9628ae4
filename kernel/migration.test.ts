/**
 * Migration: `kernel.export` moves an agent into a bundle, `kernel.import` continues it in
 * another kernel (another data dir) exactly where it stopped — its heap, its working memory, its
 * random sequence, its queued messages — and the source refuses it from then on. Damaged and
 * refused bundles leave nothing stored.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { log } from '../hostcalls/log/index.js';
import { workingMemory } from '../hostcalls/working-memory/index.js';
import { codeOf } from '../testing/expect-error.js';
import { fixture, openKernel, PROBE_GRANTS, sample, tempHome } from '../testing/harness.js';
import type { Kernel } from './kernel.js';
import { decodeAgentBundle, encodeAgentBundle } from './replay/agent-bundle.js';

const code = async (p: Promise<unknown>): Promise<string> => (await codeOf(p)).split(':')[0]!;

const NEXT = [
  { op: 'state' },
  { op: 'wm', calls: [['get', 'note']] },
  { op: 'random', n: 2 },
  { op: 'echo', i: 9 },
];

/** A probe agent with state in its heap, its working memory and its random generator. */
async function busyProbe(k: Kernel): Promise<string> {
  const id = await k.spawn(await fixture('probe'), { grants: PROBE_GRANTS });
  for (let i = 0; i < 3; i++) await k.send(id, { op: 'echo', i });
  await k.send(id, { op: 'wm', calls: [['set', 'note', 'kept']] });
  await k.send(id, { op: 'random', n: 1 });
  return id;
}

const answers = async (k: Kernel, id: string): Promise<unknown[]> => {
  const out: unknown[] = [];
  for (const m of NEXT) out.push(await k.send(id, m));
  return out;
};

const fuelOf = async (k: Kernel, id: string, n: number) =>
  (await k.journal(id))
    .filter((e) => e.t === 'outcome')
    .slice(-n)
    .map((e) => e.t === 'outcome' && e.fuel);

/** Nothing of agent `id` is stored in `k`: no record, no journal, no checkpoint. */
async function nothingOf(k: Kernel, id: string): Promise<void> {
  expect(k.list().map((a) => a.id)).not.toContain(id);
  expect(await code(k.journal(id))).toBe('AOS_E_AGENT_NOT_FOUND');
}

describe('kernel.export and kernel.import', () => {
  it('continues an agent in another kernel where it stopped: heap, memory, random, fuel; the source refuses it', async () => {
    const a = await openKernel();
    const id = await busyProbe(a);
    // The answers it would give, from a fork taken at the same point.
    const twin = await a.fork(id);
    const expected = await answers(a, twin);
    const file = join(tempHome(), 'probe.bundle');
    const bytes = await a.export(id, { file });
    expect(readFileSync(file).equals(bytes)).toBe(true);
    expect(a.inspect(id)).toMatchObject({ state: 'terminated', exported: { bundle: expect.any(String) } });
    expect(await code(a.send(id, { op: 'echo' }))).toBe('AOS_E_AGENT_EXPORTED');
    expect(await code(a.export(id))).toBe('AOS_E_AGENT_EXPORTED');

    const b = await openKernel();
    const imported = await b.import(file);
    expect(imported).toMatchObject({ id, state: 'ready', messages: 0, checkpoint: expect.any(Number) });
    const got = await answers(b, id);
    // `handled` lives in the guest's heap; the echo carries the message's id (this kernel's).
    expect(got[0]).toEqual({ handled: 6 });
    expect(got.slice(0, 3)).toEqual(expected.slice(0, 3));
    expect(got[3]).toEqual({ ...(expected[3] as object), id: (got[3] as { id: string }).id });
    expect(await fuelOf(b, id, NEXT.length)).toEqual(await fuelOf(a, twin, NEXT.length));
    // Its journal here starts at its spawn, then its tail; it replays from its checkpoint.
    expect((await b.journal(id))[0]).toMatchObject({ t: 'spawn', seq: 0 });
    expect(await b.replay(id)).toMatchObject({ identical: true, invocations: NEXT.length });
    // Imported once: again is refused, and nothing changes.
    expect(await code(b.import(file))).toBe('AOS_E_AGENT_EXISTS');
    expect(await b.send(id, { op: 'state' })).toEqual({ handled: 10 });
  });

  it('takes the queued messages along (their waiters here are told), and keeps a suspended agent suspended', async () => {
    const a = await openKernel();
    const id = await a.spawn(await sample('counter'), { grants: ['log', 'working-memory'] });
    await a.send(id, { by: 5 });
    a.suspend(id);
    const waiting = code(a.send(id, { by: 2 }));
    a.post(id, { by: 3 });
    const bytes = await a.export(id);
    expect(await waiting).toBe('AOS_E_AGENT_EXPORTED');
    expect(() => a.mailbox(id)).toThrow(/AOS_E_AGENT_EXPORTED|was exported/);

    const b = await openKernel();
    expect(await b.import(bytes)).toMatchObject({ id, state: 'suspended', messages: 2 });
    expect(b.mailbox(id).map((m) => JSON.parse(m.body))).toEqual([{ by: 2 }, { by: 3 }]);
    b.resume(id);
    expect(await b.send(id, { by: 0 })).toEqual({ count: 10 });
  });

  it('exports an agent with no instance since a restart: its heap is rebuilt first', async () => {
    const home = tempHome();
    let a = await openKernel({ home });
    const id = await busyProbe(a);
    await a.close();
    a = await openKernel({ home });
    expect(a.inspect(id).resident).toBe(false);
    const bytes = await a.export(id);
    const b = await openKernel();
    await b.import(bytes);
    expect(await b.send(id, { op: 'state' })).toEqual({ handled: 6 });
    expect(await b.send(id, { op: 'wm', calls: [['get', 'note']] })).toEqual([{ ok: 'kept' }]);
  });

  it('refuses damaged, truncated and foreign bundles with AOS_E_BAD_BUNDLE, storing nothing', async () => {
    const a = await openKernel();
    const id = await busyProbe(a);
    const good = await a.export(id);
    const b = await openKernel();
    const before = b.list().length;
    const flipped = Buffer.from(good);
    flipped[flipped.length - 10]! ^= 0xff;
    const cases: [string, Uint8Array][] = [
      ['truncated', good.subarray(0, good.length - 100)],
      ['a byte changed', flipped],
      ['too short', good.subarray(0, 5)],
      ['a recorded run', await a.record()],
      ['bytes after it', Buffer.concat([good, Buffer.from('x')])],
    ];
    for (const [what, bytes] of cases) {
      const message = await codeOf(b.import(bytes));
      expect(message, what).toMatch(/^AOS_E_BAD_BUNDLE: the bundle is not a usable agent bundle: /);
    }
    // Well packed, but not whole inside: a component that does not match its digest.
    const contents = decodeAgentBundle(good, 'good');
    const digest = contents.record.digest;
    const wrong = encodeAgentBundle({
      ...contents,
      components: { [digest]: new Uint8Array([0, 97, 115, 109]) },
    });
    expect(await codeOf(b.import(wrong))).toMatch(/does not match its digest/);
    const later = { t: 'lifecycle', at: 0, op: 'suspend', seq: 7 } as const;
    const gap = encodeAgentBundle({ ...contents, checkpoints: [], entries: [contents.entries[0]!, later] });
    expect(await codeOf(b.import(gap))).toMatch(/gap and no checkpoint/);
    // A record the kernel would trip over as it runs the agent.
    const hostile: [string, Record<string, unknown>][] = [
      ['not an agent id', { id: '../../etc' }],
      ['stats', { stats: null }],
      ['stats.hostcalls', { stats: { ...contents.record.stats, hostcalls: { log: 'many' } } }],
      ['world', { world: 'kernel' }],
      ['generation', { generation: -1 }],
    ];
    for (const [why, patch] of hostile) {
      const record = { ...contents.record, ...patch } as typeof contents.record;
      const message = await codeOf(b.import(encodeAgentBundle({ ...contents, record })));
      expect(message, why).toMatch(new RegExp(`^AOS_E_BAD_BUNDLE: .*${why.replace('.', '\\.')}`));
    }
    const path = join(tempHome(), 'missing.bundle');
    expect(await code(b.import(path))).toBe('AOS_E_COMPONENT_NOT_FOUND');
    expect(b.list()).toHaveLength(before);
    await nothingOf(b, id);
    // The good one still imports: nothing of the refused ones was left behind.
    await b.import(good);
    expect(await b.send(id, { op: 'state' })).toEqual({ handled: 6 });
  });

  it('undoes an import whose state does not start, and one this kernel cannot grant', async () => {
    const a = await openKernel();
    const id = await busyProbe(a);
    const good = await a.export(id);
    const contents = decodeAgentBundle(good, 'good');
    // A checkpoint whose bytes are not a state: the instance does not start.
    const last = contents.checkpoints.at(-1)!;
    const wm = contents.capabilities['working-memory'] as [string, string][];
    const damaged = encodeAgentBundle({
      ...contents,
      capabilities: { ...contents.capabilities, 'working-memory': [...wm, ['ghost', 'boo']] },
      checkpoints: [...contents.checkpoints.slice(0, -1), { ...last, bytes: new Uint8Array(64).fill(7) }],
    });
    const b = await openKernel();
    expect(await codeOf(b.import(damaged))).toMatch(/^AOS_E_/);
    await nothingOf(b, id);
    expect(b.list()).toEqual([]);
    // A kernel without the clock and random capabilities cannot run it as it ran.
    const c = await openKernel({ capabilities: [log, workingMemory] });
    expect(await code(c.import(good))).toMatch(
      /^AOS_E_(CAPABILITY_UNAVAILABLE|UNKNOWN_CAPABILITY|IMPORT_NOT_GRANTED)$/,
    );
    await nothingOf(c, id);
    // The undone import left nothing: the good bundle imports, and its journal, checkpoints and
    // working memory are the bundle's alone.
    await b.import(good);
    expect((await b.journal(id)).map((e) => e.seq)).toEqual([
      ...contents.entries.map((e) => e.seq),
      contents.next,
    ]);
    expect(b.inspect(id).checkpoints.map((x) => x.seq)).toEqual(contents.checkpoints.map((x) => x.seq));
    expect(
      await b.send(id, {
        op: 'wm',
        calls: [
          ['get', 'note'],
          ['get', 'ghost'],
        ],
      }),
    ).toEqual([{ ok: 'kept' }, { ok: null }]);
  });

  it('keeps the agent here when the bundle cannot be written', async () => {
    const a = await openKernel();
    const id = await a.spawn(await sample('counter'), { grants: ['log', 'working-memory'] });
    await a.send(id, { by: 4 });
    const file = join(tempHome(), 'no', 'such', 'dir', 'x.bundle');
    expect(await code(a.export(id, { file }))).toBe('AOS_E_BAD_ARGUMENT');
    expect(await a.send(id, { by: 1 })).toEqual({ count: 5 });
  });
});
