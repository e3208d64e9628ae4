import type { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { type PoolEvents, WorkerPool, type WorkerSlot } from './pool.js';

let pool: WorkerPool | undefined;
afterEach(async () => {
  await pool?.close();
  pool = undefined;
});

const until = async (f: () => boolean, ms = 10_000): Promise<void> => {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error('condition never held');
    await new Promise((r) => setTimeout(r, 5));
  }
};

/** Pool events that only record the workers lost. */
function recording(): { events: PoolEvents; lost: WorkerSlot[] } {
  const lost: WorkerSlot[] = [];
  const events: PoolEvents = {
    onWorker: () => {},
    onReady: () => {},
    onWorkerLost: (slot) => lost.push(slot),
    onCommandEnd: () => {},
  };
  return { events, lost };
}

describe('WorkerPool', () => {
  it('grows one worker at a time up to its maximum, and retires idle extra workers', async () => {
    const { events, lost } = recording();
    pool = await WorkerPool.start(1, events, 2, 300);
    const base = [...pool.slots.keys()];
    expect(pool.grow()).toBe(true);
    expect(pool.grow()).toBe(false); // one on its way already
    await until(() => pool!.slots.size === 2);
    expect(pool.grow()).toBe(false); // at its maximum
    const extra = [...pool.slots.values()].find((s) => !base.includes(s.thread))!;
    // The extra worker serves like any other.
    expect(await pool.run(extra, { op: 'unload', agents: [] })).toMatchObject({ kind: 'ok' });
    // Busy, or holding an instance, it stays; idle with nothing resident, it goes.
    extra.residents.add('someone');
    await new Promise((r) => setTimeout(r, 500));
    expect(pool.slots.has(extra.thread)).toBe(true);
    extra.residents.clear();
    await until(() => !pool!.slots.has(extra.thread));
    expect(lost).toEqual([extra]);
    expect(extra.retired).toBe(true);
    expect([...pool.slots.keys()]).toEqual(base); // the base worker never retires
    expect(pool.grow()).toBe(true); // room again
  });

  it('drops a worker whose thread exits, tells the kernel once, and starts a replacement', async () => {
    const { events, lost } = recording();
    pool = await WorkerPool.start(2, events);
    const [victim] = [...pool.slots.values()];
    const threads = (pool as unknown as { pools: { threads: Worker[] }[] }).pools[0]!.threads;
    await threads.find((t) => t.threadId === victim!.thread)!.terminate();
    await until(() => lost.length === 1 && pool!.slots.size === 2);
    expect(lost).toEqual([victim]);
    expect(pool.slots.has(victim!.thread)).toBe(false);
    await expect(pool.run(victim!, { op: 'unload', agents: [] })).rejects.toThrow(/worker/);
    for (const slot of pool.slots.values())
      expect(await pool.run(slot, { op: 'unload', agents: [] })).toMatchObject({ kind: 'ok' });
  });
});
