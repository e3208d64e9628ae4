import { afterEach, describe, expect, it } from 'vitest';
import { exitWorkerThread, until } from '../../testing/harness.js';
import type { Task } from '../worker/protocol.js';
import { type PoolEvents, WorkerPool, type WorkerSlot } from './pool.js';

let pool: WorkerPool | undefined;
afterEach(async () => {
  await pool?.close();
  pool = undefined;
});

/**
 * Pool events that record the workers lost; while `hold.on`, each new worker holds an instance
 * from its start, so it cannot retire until the test lets it.
 */
function recording(): { events: PoolEvents; lost: WorkerSlot[]; hold: { on: boolean } } {
  const lost: WorkerSlot[] = [];
  const hold = { on: false };
  const events: PoolEvents = {
    // Called as the slot is made, before any retire pass can see it idle.
    onWorker: (slot) => {
      if (hold.on) slot.residents.add('someone');
    },
    onReady: () => {},
    onWorkerLost: (slot) => lost.push(slot),
    onCommandEnd: () => {},
  };
  return { events, lost, hold };
}

/** Runs `task` on `slot` as the kernel does: marked busy meanwhile, so it cannot retire under it. */
async function runOn(p: WorkerPool, slot: WorkerSlot, task: Task): Promise<unknown> {
  slot.busy = true;
  try {
    return await p.run(slot, task);
  } finally {
    slot.busy = false;
  }
}

const UNLOAD: Task = { op: 'unload', agents: [] };

describe('WorkerPool', () => {
  it('grows one worker at a time up to its maximum, and retires idle extra workers', async () => {
    const { events, lost, hold } = recording();
    pool = await WorkerPool.start(1, events, 3, 300);
    const p = pool;
    const base = [...p.slots.keys()];
    const extras = (): WorkerSlot[] => [...p.slots.values()].filter((s) => !base.includes(s.thread));
    hold.on = true; // the extra workers hold an instance from their start
    expect(p.grow()).toBe(true);
    expect(p.grow()).toBe(false); // one on its way already
    await until('the first extra worker starts', () => p.slots.size === 2);
    const [held] = extras();
    expect(p.grow()).toBe(true);
    await until('the second extra worker starts', () => p.slots.size === 3);
    expect(p.grow()).toBe(false); // at its maximum
    const idle = extras().find((s) => s !== held)!;
    expect([held!.residents.size, idle.residents.size]).toEqual([1, 1]);
    // An extra worker serves like any other.
    expect(await runOn(p, idle, UNLOAD)).toMatchObject({ kind: 'ok' });
    // Idle with nothing resident, it goes; the retire pass that takes it looks at every extra
    // worker, so the one holding an instance was seen, and stays.
    idle.residents.clear();
    await until('the idle extra worker retires', () => !p.slots.has(idle.thread));
    expect(p.slots.has(held!.thread)).toBe(true);
    held!.residents.clear();
    await until('the emptied extra worker retires', () => !p.slots.has(held!.thread));
    expect(lost).toEqual([idle, held]);
    expect(lost.every((s) => s.retired)).toBe(true);
    expect([...p.slots.keys()]).toEqual(base); // the base worker never retires
    expect(p.grow()).toBe(true); // room again
  });

  it('drops a worker whose thread exits, tells the kernel once, and starts a replacement', async () => {
    const { events, lost } = recording();
    pool = await WorkerPool.start(2, events);
    const p = pool;
    const [first] = [...p.slots.values()];
    const victim = await exitWorkerThread(p, (slot) => slot === first);
    await until('the pool replaces it', () => lost.length === 1 && p.slots.size === 2);
    expect(lost).toEqual([victim]);
    expect(p.slots.has(victim.thread)).toBe(false);
    await expect(p.run(victim, UNLOAD)).rejects.toThrow(/worker/);
    for (const slot of p.slots.values()) expect(await runOn(p, slot, UNLOAD)).toMatchObject({ kind: 'ok' });
  });
});
