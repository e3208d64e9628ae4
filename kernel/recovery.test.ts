/**
 * Recovery: a lost instance's heap is rebuilt from the agent's latest checkpoint and the journal
 * after it (kernel/exec/recovery.ts), after a trap, an exhausted budget, a deadline and a kill -9
 * of the kernel, with nothing done twice; checkpoints are taken by policy and when asked; a
 * replay of a run with recoveries (and of a fork, from its checkpoint) is identical.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { open } from 'lmdb';
import { describe, expect, it } from 'vitest';
import { codeOf } from '../testing/expect-error.js';
import { fixture, openKernel, PROBE_GRANTS, tempHome, until } from '../testing/harness.js';
import { packageRoot } from './base/paths.js';
import type { Checkpoint } from './store/checkpoints.js';
import type { ReadableEntry } from './store/journal.js';

type Instance = Extract<ReadableEntry, { t: 'instance' }>;
const starts = (journal: readonly ReadableEntry[]): Instance[] =>
  journal.filter((e): e is Instance => e.t === 'instance');

/** Invocations committed (an ok or error outcome) between two journal entries. */
const committedBetween = (journal: readonly ReadableEntry[], from: number, to: number): number =>
  journal.filter(
    (e) => e.t === 'outcome' && e.seq > from && e.seq < to && (e.result === 'ok' || e.result === 'error'),
  ).length;

describe('recovery of a lost instance', () => {
  it('after a trap the heap is as it was after the last committed invocation, and the run replays identically', async () => {
    const k = await openKernel({ checkpointEvery: null, delivery: { attempts: 1 } });
    const id = await k.spawn(await fixture('probe'), { grants: PROBE_GRANTS });
    for (let i = 0; i < 5; i++) await k.send(id, { op: 'echo', i });
    await k.send(id, { op: 'wm', calls: [['set', 'k', 'v1']] });
    expect(await codeOf(k.send(id, { op: 'wm', calls: [['set', 'k', 'v2'], ['trap']] }))).toMatch(
      /^AOS_E_AGENT_CRASHED/,
    );
    // `handled` lives in the guest's heap: 6 committed, the trap's rolled back, this one the 7th.
    expect(await k.send(id, { op: 'state' })).toEqual({ handled: 7 });
    expect(await k.send(id, { op: 'wm', calls: [['get', 'k']] })).toEqual([{ ok: 'v1' }]);
    const journal = await k.journal(id);
    const last = starts(journal).pop()!;
    // No checkpoint: rebuilt from its spawn's init, its 6 committed invocations redone.
    expect(last).toMatchObject({ reason: 'recover', recovered: { from: 1, replayed: 6 } });
    // Redone invocations made no hostcall of their own: the working memory was set once.
    expect(journal.filter((e) => e.t === 'hostcall' && e.fn === 'working-memory.set')).toHaveLength(2);
    expect(await k.replay(id)).toMatchObject({ identical: true, invocations: 9 });
  });

  it('recovery with `recovery: "init"` starts afresh, as before', async () => {
    const k = await openKernel({ recovery: 'init', delivery: { attempts: 1 } });
    const id = await k.spawn(await fixture('probe'), { grants: PROBE_GRANTS });
    for (let i = 0; i < 3; i++) await k.send(id, { op: 'echo', i });
    await codeOf(k.send(id, { op: 'trap' }));
    expect(await k.send(id, { op: 'state' })).toEqual({ handled: 1 });
    expect(starts(await k.journal(id)).pop()).toMatchObject({ reason: 'restart' });
    expect(await codeOf(openKernel({ recovery: 'maybe' as 'init' }))).toMatch(
      /^AOS_E_BAD_CONFIG: recovery must be "rebuild" or "init"/,
    );
    expect(await codeOf(openKernel({ checkpointEvery: 0 }))).toMatch(
      /^AOS_E_BAD_CONFIG: checkpointEvery must be a positive integer or null/,
    );
  });

  it('checkpoints are taken every N invocations: recovery redoes only the invocations after the latest', async () => {
    const k = await openKernel({ checkpointEvery: 4, delivery: { attempts: 1 } });
    const id = await k.spawn(await fixture('probe'), {
      grants: PROBE_GRANTS,
      limits: { fuel: { invocation: 2_000_000_000 } },
    });
    for (let i = 0; i < 10; i++) await k.send(id, { op: 'echo', i });
    await until('two checkpoints are kept', () => k.inspect(id).checkpoints.length === 2, 30_000);
    const [, latest] = k.inspect(id).checkpoints;
    // Fuel exhausted on one call (a per-invocation budget): its instance is gone.
    expect(await codeOf(k.send(id, { op: 'forever' }))).toMatch(/^AOS_E_FUEL_EXHAUSTED/);
    expect(await k.send(id, { op: 'state' })).toEqual({ handled: 11 });
    const journal = await k.journal(id);
    const last = starts(journal).pop()!;
    expect(last.recovered?.from).toBe(latest!.seq);
    // The echoes after the checkpoint (taken after the 8th, or the 9th if that one came first).
    expect(last.recovered?.replayed).toBe(committedBetween(journal, latest!.seq, last.seq));
    expect(last.recovered?.replayed).toBeLessThanOrEqual(2);
    expect(await k.replay(id)).toMatchObject({ identical: true });
  });

  it('a call cut by its deadline leaves the heap as before it; the replay skips it and matches', async () => {
    const k = await openKernel({ delivery: { attempts: 1 } });
    const id = await k.spawn(await fixture('probe'), { grants: PROBE_GRANTS, limits: { deadlineMs: 200 } });
    for (let i = 0; i < 3; i++) await k.send(id, { op: 'echo', i });
    expect(await codeOf(k.send(id, { op: 'spin', n: 2_000_000_000 }))).toMatch(/^AOS_E_DEADLINE/);
    expect(await k.send(id, { op: 'state' })).toEqual({ handled: 4 });
    expect(await k.replay(id)).toMatchObject({ identical: true, skipped: 1 });
  });

  it('checkpoints when asked; a fork starts from its first checkpoint and replays from it', async () => {
    const k = await openKernel({ checkpointEvery: null });
    const id = await k.spawn(await fixture('probe'), { grants: PROBE_GRANTS });
    for (let i = 0; i < 3; i++) await k.send(id, { op: 'echo', i });
    const taken = await k.checkpoint(id);
    expect(k.inspect(id).checkpoints).toEqual([taken]);
    expect(taken.seq).toBe((await k.journal(id)).at(-1)!.seq);
    await expect(k.checkpoint('nobody')).rejects.toMatchObject({ code: 'AOS_E_AGENT_NOT_FOUND' });
    const twin = await k.fork(id);
    await until('its first checkpoint is kept', () => k.inspect(twin).checkpoints.length === 1, 30_000);
    await k.send(twin, { op: 'echo', i: 9 });
    expect(await k.send(twin, { op: 'state' })).toEqual({ handled: 5 });
    expect(await k.replay(twin)).toMatchObject({ identical: true, invocations: 2 });
  });

  it('a journal pruned before its oldest checkpoint still recovers and replays, across a restart; without a checkpoint pruning is refused', async () => {
    const home = tempHome();
    let k = await openKernel({ home, checkpointEvery: null, delivery: { attempts: 1 } });
    const id = await k.spawn(await fixture('probe'), { grants: PROBE_GRANTS });
    for (let i = 0; i < 4; i++) await k.send(id, { op: 'echo', i });
    expect(await codeOf(k.pruneJournal(id))).toMatch(/^AOS_E_BAD_STATE: .* has no checkpoint/);
    expect((await k.journal(id)).map((e) => e.seq)).toEqual(
      [...(await k.journal(id)).keys()], // nothing went
    );
    const cp = await k.checkpoint(id);
    for (let i = 0; i < 3; i++) await k.send(id, { op: 'echo', i });
    const before = await k.journal(id);
    const { removed, from } = await k.pruneJournal(id);
    expect(from).toBe(cp.seq);
    const after = await k.journal(id);
    expect(removed).toBe(before.length - after.length);
    expect(removed).toBeGreaterThan(0);
    expect(after[0]).toMatchObject({ t: 'spawn', seq: 0 });
    // Everything after the checkpoint is there, unchanged.
    expect(after.filter((e) => e.seq > cp.seq)).toEqual(before.filter((e) => e.seq > cp.seq));
    expect(await k.replay(id)).toMatchObject({ identical: true, checkpoint: cp.seq, invocations: 3 });
    expect(await codeOf(k.record({ agents: [id] }))).toMatch(/^AOS_E_REPLAY: the journal of .* was pruned/);
    await k.close();
    k = await openKernel({ home, checkpointEvery: null, delivery: { attempts: 1 } });
    // Resident at the close: rebuilt from the checkpoint and the 3 invocations after it.
    expect(await k.send(id, { op: 'state' })).toEqual({ handled: 8 });
    await codeOf(k.send(id, { op: 'trap' }));
    expect(await k.send(id, { op: 'state' })).toEqual({ handled: 9 });
    const journal = await k.journal(id);
    expect(starts(journal).at(-1)).toMatchObject({ reason: 'recover', recovered: { from: cp.seq } });
    expect(await k.replay(id)).toMatchObject({ identical: true, checkpoint: cp.seq });
    expect(await codeOf(k.pruneJournal('nobody-000000'))).toMatch(/^AOS_E_AGENT_NOT_FOUND/);
  });

  it('a damaged checkpoint gives way to the whole journal; once the journal is pruned, to init, said so', async () => {
    const home = tempHome();
    let k = await openKernel({ home, checkpointEvery: null });
    const id = await k.spawn(await fixture('probe'), { grants: PROBE_GRANTS });
    for (let i = 0; i < 3; i++) await k.send(id, { op: 'echo', i });
    const cp = await k.checkpoint(id);
    await k.send(id, { op: 'echo', i: 9 });
    await k.close();
    const damage = async () => {
      const env = open({ path: join(home, 'db'), maxDbs: 64 });
      const db = env.openDB<Checkpoint, [string, number]>({ name: 'checkpoints' });
      const c = db.get([id, cp.seq])!;
      const bytes = Buffer.from(c.bytes);
      for (let i = 20; i < bytes.length; i += 97) bytes[i]! ^= 0xff;
      await db.put([id, cp.seq], { ...c, bytes });
      await env.close();
    };
    await damage();
    k = await openKernel({ home, checkpointEvery: null });
    // 4 echoes redone from init, then this one.
    expect(await k.send(id, { op: 'state' })).toEqual({ handled: 5 });
    expect(starts(await k.journal(id)).at(-1)).toMatchObject({ reason: 'recover', recovered: { from: 1 } });
    expect(await k.replay(id)).toMatchObject({ identical: true });
    await k.pruneJournal(id); // trusts the checkpoint: the journal before it goes
    await k.close();
    k = await openKernel({ home, checkpointEvery: null });
    expect(await k.send(id, { op: 'state' })).toEqual({ handled: 1 }); // nothing to rebuild from
    const journal = await k.journal(id);
    expect(journal.filter((e) => e.t === 'lifecycle' && e.op === 'unrecovered').at(-1)).toMatchObject({
      detail: expect.stringMatching(/^checkpoint #\d+ did not start/),
    });
    expect((await k.replay(id)).divergence).toMatchObject({ invocation: 0, what: 'instance' });
  });

  it('after a kill -9 of the kernel mid-invocation, the heap is rebuilt and the message runs once more', async () => {
    const home = tempHome();
    const probe = await fixture('probe');
    const child: ChildProcess = spawn(
      process.execPath,
      [join(packageRoot(), 'dist', 'testing', 'recovery-child.js'), home, probe, '6'],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout!.on('data', (d) => {
      out += String(d);
    });
    await until('the spin runs', () => out.includes('agent '), 120_000);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const id = /agent (\S+)/.exec(out)![1]!;
    const k = await openKernel({ home });
    // The spin was never acknowledged: it runs again (on the rebuilt heap), then this one.
    expect(await k.send(id, { op: 'state' }, { timeoutMs: 120_000 })).toEqual({ handled: 8 });
    const journal = await k.journal(id);
    const last = starts(journal).pop()!;
    expect(last.reason).toBe('recover');
    // From its checkpoint after the 4th echo (or the 5th): the echoes after it redone.
    expect(last.recovered?.from).toBeGreaterThan(1);
    expect(last.recovered?.replayed).toBe(committedBetween(journal, last.recovered!.from, last.seq));
    expect(last.recovered?.replayed).toBeGreaterThan(0);
    expect(journal.filter((e) => e.t === 'outcome' && e.result === 'ok')).toHaveLength(8);
  }, 240_000);
});
