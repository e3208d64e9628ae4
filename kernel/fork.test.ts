/**
 * `kernel.fork`: a new agent that starts from another's idle instance (its memory and globals,
 * taken as a snapshot) and its capability state, so both give the same answers from there on,
 * fuel included.
 */
import { describe, expect, it } from 'vitest';
import { codeOf } from '../testing/expect-error.js';
import { fixture, openKernel, PROBE_GRANTS, sample, tempHome } from '../testing/harness.js';

const code = async (p: Promise<unknown>): Promise<string> => (await codeOf(p)).split(':')[0]!;

describe('kernel.fork', () => {
  it('starts a new agent from the state of a running one: its heap, its memory, its random sequence', async () => {
    const k = await openKernel();
    const id = await k.spawn(await fixture('probe'), { grants: PROBE_GRANTS });
    for (let i = 0; i < 3; i++) await k.send(id, { op: 'echo', i });
    await k.send(id, { op: 'wm', calls: [['set', 'note', 'kept']] });
    const twin = await k.fork(id);
    expect(twin).not.toBe(id);
    // `handled` lives in the guest's heap: a fresh instance would start at 0.
    const next = [
      { op: 'state' },
      { op: 'wm', calls: [['get', 'note']] },
      { op: 'random', n: 2 },
      { op: 'echo', i: 9 },
    ];
    const mine: unknown[] = [];
    const theirs: unknown[] = [];
    for (const m of next) {
      mine.push(await k.send(id, m));
      theirs.push(await k.send(twin, m));
    }
    expect(mine[0]).toEqual({ handled: 5 });
    expect(theirs).toEqual(
      mine.map((x, i) => (i === 3 ? { ...(x as object), id: (theirs[3] as { id: string }).id } : x)),
    );
    // The same calls used the same fuel.
    const fuel = async (who: string) =>
      (await k.journal(who))
        .filter((e) => e.t === 'outcome')
        .slice(-next.length)
        .map((e) => e.t === 'outcome' && e.fuel);
    expect(await fuel(twin)).toEqual(await fuel(id));
    expect(k.inspect(twin)).toMatchObject({ digest: k.inspect(id).digest, grants: k.inspect(id).grants });
    const [spawn] = await k.journal(twin);
    expect(spawn).toMatchObject({ t: 'spawn', from: { agent: id } });
    // It replays from its first checkpoint (the state it started from).
    expect(k.inspect(twin).checkpoints).toHaveLength(1);
    expect(await k.replay(twin)).toMatchObject({ identical: true, invocations: next.length });
  });

  it('forks an agent with no resident instance from its capability state (its instance runs init)', async () => {
    const home = tempHome();
    let k = await openKernel({ home });
    const id = await k.spawn(await sample('counter'), { grants: ['log', 'working-memory'] });
    await k.send(id, { by: 5 });
    await k.close();
    k = await openKernel({ home }); // restored: no instance yet
    const twin = await k.fork(id, { name: 'twin' });
    expect(twin).toMatch(/^twin-/);
    expect(await k.send(twin, { by: 1 })).toEqual({ count: 6 }); // the count is in working memory
    expect(await k.send(id, { by: 2 })).toEqual({ count: 7 }); // each its own from here
    expect(await k.send(twin, { by: 1 })).toEqual({ count: 7 });
  });

  it('a state too large to carry is refused with the limit, and the source keeps its heap', async () => {
    const k = await openKernel({ maxResultBytes: 16_384 });
    const id = await k.spawn(await fixture('probe'), { grants: PROBE_GRANTS });
    for (let i = 0; i < 3; i++) await k.send(id, { op: 'echo', i });
    expect(await codeOf(k.fork(id))).toMatch(
      /^AOS_E_RESULT_TOO_LARGE: .*its state is \d+ bytes, more than maxResultBytes \(16384\)/,
    );
    expect(await k.send(id, { op: 'state' })).toEqual({ handled: 4 });
    expect(k.list().map((a) => a.id)).toEqual([id]);
  });

  it('refuses what cannot be forked', async () => {
    const k = await openKernel();
    const id = await k.spawn(await sample('echo'), { grants: ['log'] });
    expect(await code(k.fork('nobody-000000'))).toBe('AOS_E_AGENT_NOT_FOUND');
    expect(await code(k.fork(id, { name: 7 as unknown as string }))).toBe('AOS_E_BAD_ARGUMENT');
    await k.terminate(id);
    expect(await code(k.fork(id))).toBe('AOS_E_AGENT_TERMINATED');
  });
});
