/**
 * Journal retention: under `retention: 'checkpoints'` an agent's journal before its oldest kept
 * checkpoint goes as checkpoints are kept, so its disk use stays flat while recovery and replay
 * still work; a prune by hand can archive what it drops; suspend takes a checkpoint.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { codeOf } from '../testing/expect-error.js';
import { fixture, openKernel, PROBE_GRANTS, sample, tempHome, until } from '../testing/harness.js';
import type { Kernel } from './kernel.js';
import { decodeJournalArchive } from './replay/journal-archive.js';

const invocations = async (k: Kernel, id: string): Promise<number> =>
  (await k.journal(id)).filter((e) => e.t === 'invoke').length;

async function count(k: Kernel, id: string, n: number): Promise<unknown> {
  let last: unknown;
  for (let i = 0; i < n; i++) last = await k.send(id, { by: 1 });
  return last;
}

describe('journal retention', () => {
  it("keeps an agent's journal bounded under retention 'checkpoints'; it still recovers and replays", async () => {
    const home = tempHome();
    let k = await openKernel({ home, checkpointEvery: 5, retention: 'checkpoints' });
    const id = await k.spawn(await sample('counter'), { grants: ['log', 'working-memory'] });
    const all = await openKernel({ checkpointEvery: 5 });
    const kept = await all.spawn(await sample('counter'), { grants: ['log', 'working-memory'] });
    await count(k, id, 20);
    await count(all, kept, 20);
    await until(
      'the journal before the oldest checkpoint is pruned',
      async () => (await invocations(k, id)) <= 10,
    );
    await k.flushed();
    const at20 = k.inspect(id, { disk: true }).disk!.journal;
    expect(await count(k, id, 40)).toEqual({ count: 60 });
    await count(all, kept, 40);
    await until('pruned again', async () => (await invocations(k, id)) <= 10);
    await k.flushed();
    await all.flushed();
    // Bounded: at most two checkpoints' worth of invocations, and about as many bytes at 60 as at 20.
    const disk = k.inspect(id, { disk: true }).disk!;
    // Only when asked: it reads the journal's keys, and a plain inspect must not cost that.
    expect(k.inspect(id).disk).toBeUndefined();
    for (const bad of [null, 'disk', { disk: 'yes' }])
      expect(() => k.inspect(id, bad as never)).toThrow(
        expect.objectContaining({ code: 'AOS_E_BAD_ARGUMENT' }),
      );
    expect(disk.journal).toBeLessThan(at20 * 1.5);
    expect(disk.checkpoints).toBeGreaterThan(0);
    expect(await invocations(all, kept)).toBe(60);
    expect(all.inspect(kept, { disk: true }).disk!.journal).toBeGreaterThan(disk.journal * 3);
    // The spawn record stays; replay starts from the oldest checkpoint.
    expect((await k.journal(id))[0]).toMatchObject({ t: 'spawn', seq: 0 });
    expect(await k.replay(id)).toMatchObject({
      identical: true,
      checkpoint: k.inspect(id).checkpoints[0]!.seq,
    });
    await k.close();
    k = await openKernel({ home, checkpointEvery: 5, retention: 'checkpoints' });
    expect(await k.send(id, { by: 1 })).toEqual({ count: 61 });
    expect(await codeOf(k.record({ agents: [id] }))).toMatch(/^AOS_E_REPLAY: the journal of .* was pruned/);
  });

  it('archives what a prune drops, on disk before it goes; an archive it cannot write prunes nothing', async () => {
    const k = await openKernel({ checkpointEvery: null });
    const id = await k.spawn(await fixture('probe'), { grants: PROBE_GRANTS });
    for (let i = 0; i < 4; i++) await k.send(id, { op: 'echo', i });
    await k.checkpoint(id);
    await k.send(id, { op: 'echo', i: 5 });
    const before = await k.journal(id);
    const bad = join(tempHome(), 'no', 'such', 'dir', 'a.journal');
    expect(await codeOf(k.pruneJournal(id, { archive: bad }))).toMatch(
      /^AOS_E_BAD_ARGUMENT: .*nothing was pruned/,
    );
    expect(await k.journal(id)).toEqual(before);
    const file = join(tempHome(), 'probe.journal');
    const { removed, archived } = await k.pruneJournal(id, { archive: file });
    expect(archived).toBe(file);
    const after = await k.journal(id);
    const archive = decodeJournalArchive(readFileSync(file), file);
    expect(archive).toMatchObject({ agent: id, agentos: expect.any(String) });
    expect(archive.entries).toHaveLength(removed);
    const kept = new Set(after.map((e) => e.seq));
    expect(archive.entries.map((e) => e.seq)).toEqual(before.map((e) => e.seq).filter((s) => !kept.has(s)));
    const damaged = readFileSync(file);
    damaged[damaged.length - 1]! ^= 1;
    expect(() => decodeJournalArchive(damaged, 'x')).toThrow(/AOS_E_BAD_BUNDLE|checksum/);
  });

  it('archives what each automatic prune drops: archives and journal together hold every entry once', async () => {
    const dir = join(tempHome(), 'archive');
    const k = await openKernel({ checkpointEvery: 5, retention: 'checkpoints', journalArchiveDir: dir });
    const id = await k.spawn(await sample('counter'), { grants: ['log', 'working-memory'] });
    await count(k, id, 23);
    await until('two prunes archived', () => existsSync(dir) && readdirSync(dir).length >= 2);
    await k.flushed();
    await until('the prunes are done', async () => (await invocations(k, id)) <= 10);
    const archived = readdirSync(dir).flatMap((f) => {
      expect(f).toMatch(new RegExp(`^${id}-\\d+-\\d+\\.journal$`));
      return decodeJournalArchive(readFileSync(join(dir, f)), f).entries.map((e) => e.seq);
    });
    const kept = (await k.journal(id)).map((e) => e.seq);
    const all = [...archived, ...kept].sort((a, b) => a - b);
    expect(all).toEqual([...all.keys()]); // 0, 1, 2, …: each entry once, none lost
    expect(await codeOf(openKernel({ journalArchiveDir: '' }))).toMatch(
      /^AOS_E_BAD_CONFIG: journalArchiveDir/,
    );
  });

  it('takes a checkpoint when an agent is suspended', async () => {
    const k = await openKernel({ checkpointEvery: null });
    const id = await k.spawn(await sample('counter'), { grants: ['log', 'working-memory'] });
    await count(k, id, 3);
    expect(k.inspect(id).checkpoints).toEqual([]);
    k.suspend(id);
    await until('suspend kept a checkpoint', () => k.inspect(id).checkpoints.length === 1, 30_000);
  });

  it('refuses an unknown retention policy', async () => {
    const message = await codeOf(openKernel({ retention: 'forever' as 'all' }));
    expect(message).toMatch(/^AOS_E_BAD_CONFIG: retention must be "all" or "checkpoints"/);
  });
});
