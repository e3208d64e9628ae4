/**
 * Dormant agents: an agent idle for `dormantAfterMs` has its instance's state kept and its
 * instance dropped; its next message starts an instance from that state, after a restart too.
 */
import { describe, expect, it } from 'vitest';
import { codeOf } from '../testing/expect-error.js';
import { fixture, openKernel, PROBE_GRANTS, tempHome, until } from '../testing/harness.js';

describe('dormant agents', () => {
  it('an idle agent goes dormant and wakes where it was, its heap intact', async () => {
    const k = await openKernel({ dormantAfterMs: 50 });
    const id = await k.spawn(await fixture('probe'), { grants: PROBE_GRANTS });
    for (let i = 0; i < 3; i++) await k.send(id, { op: 'echo', i });
    await until('it went dormant', () => k.inspect(id).dormant, 30_000);
    expect(k.inspect(id)).toMatchObject({ dormant: true, resident: false });
    // `handled` lives in the guest's heap: a fresh instance would start it at 0.
    expect(await k.send(id, { op: 'state' })).toEqual({ handled: 4 });
    expect(k.inspect(id)).toMatchObject({ dormant: false, resident: true });
    const journal = await k.journal(id);
    expect(journal.some((e) => e.t === 'lifecycle' && e.op === 'dormant')).toBe(true);
    expect(journal.some((e) => e.t === 'instance' && e.reason === 'resume')).toBe(true);
    // Going dormant and waking changed nothing a guest sees: the run replays identically.
    expect(await k.replay(id)).toMatchObject({ identical: true });
  });

  it('a dormant agent forks from its kept state; a fork or an upgrade racing the sweep waits for it', async () => {
    const k = await openKernel({ dormantAfterMs: 20 });
    const id = await k.spawn(await fixture('probe'), { grants: PROBE_GRANTS });
    for (let i = 0; i < 3; i++) await k.send(id, { op: 'echo', i });
    await until('it went dormant', () => k.inspect(id).dormant, 30_000);
    const twin = await k.fork(id);
    expect(await k.send(twin, { op: 'state' })).toEqual({ handled: 4 });
    expect(await k.send(id, { op: 'state' })).toEqual({ handled: 4 });
    // Forks just as the sweep may be taking the agent's state: none is refused.
    for (let i = 0; i < 6; i++) {
      await k.send(id, { op: 'echo', i });
      await new Promise((r) => setTimeout(r, 15 + i));
      const other = await k.fork(id);
      expect(await k.send(other, { op: 'state' })).toEqual(await k.send(id, { op: 'state' }));
    }
  });

  it('a kernel restart while an agent is dormant loses nothing of its heap; while resident, its heap is rebuilt from the journal (or, under recovery: init, starts afresh)', async () => {
    const home = tempHome();
    let k = await openKernel({ home, dormantAfterMs: 50 });
    const sleeper = await k.spawn(await fixture('probe'), { grants: PROBE_GRANTS, name: 'sleeper' });
    for (let i = 0; i < 2; i++) await k.send(sleeper, { op: 'echo', i });
    await until('it went dormant', () => k.inspect(sleeper).dormant, 30_000);
    await k.close();
    k = await openKernel({ home }); // dormancy off now: it wakes at its next message all the same
    expect(k.inspect(sleeper).dormant).toBe(true);
    expect(await k.send(sleeper, { op: 'state' })).toEqual({ handled: 3 });
    await k.close();
    k = await openKernel({ home }); // it was resident when this kernel closed: rebuilt
    expect(await k.send(sleeper, { op: 'state' })).toEqual({ handled: 4 });
    await k.close();
    k = await openKernel({ home, recovery: 'init' }); // init again
    expect(await k.send(sleeper, { op: 'state' })).toEqual({ handled: 1 });
    expect(await codeOf(openKernel({ dormantAfterMs: 0 }))).toMatch(
      /^AOS_E_BAD_CONFIG: dormantAfterMs must be/,
    );
  });
});
