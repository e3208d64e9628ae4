/**
 * The worker pool: piscina, with every task pinned to the worker that holds the agent's
 * resident instance (a load balancer that honours the pin), and one hostcall channel per worker.
 *
 * @example
 * const pool = await WorkerPool.start(2, (thread) => serve(thread));
 * const result = await pool.run(pool.threads()[0], task);
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Piscina } from 'piscina';
import { type Channel, createChannel } from './bridge/channel.js';
import { packageRoot } from './paths.js';
import type { Task, TaskResult } from './worker/protocol.js';

type PinnedTask = Task & { [key: symbol]: { thread: number } };

/**
 * The worker entry as compiled JS. When the kernel itself runs from TypeScript sources (tests),
 * there is no sibling `.js`, and the compiled copy under dist/ is used instead.
 */
export function workerEntry(): string {
  const here = new URL('./worker/agent-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(here))) return here.href;
  const dist = join(packageRoot(), 'dist', 'kernel', 'worker', 'agent-worker.js');
  if (existsSync(dist)) return pathToFileURL(dist).href;
  throw new Error(`no compiled worker entry at ${dist}: run \`npm run build\``);
}

export interface WorkerSlot {
  readonly thread: number;
  readonly channel: Channel;
  busy: boolean;
  /** Agents with a live instance on this worker. */
  readonly residents: Set<string>;
  /** Component digests whose compiled modules this worker holds. */
  readonly digests: Set<string>;
  /** Agents whose instances this worker should drop as soon as it is free. */
  readonly unloads: string[];
}

export interface PoolEvents {
  /** A worker started: the kernel starts serving its channel. */
  onWorker(slot: WorkerSlot): void;
  /** A worker is attached and takes work. */
  onReady(slot: WorkerSlot): void;
  /** A worker died: its instances are gone. */
  onWorkerLost(slot: WorkerSlot): void;
}

export class WorkerPool {
  readonly slots = new Map<number, WorkerSlot>();
  private readonly piscina: Piscina;

  private constructor(size: number, events: PoolEvents) {
    const key = Piscina.queueOptionsSymbol;
    this.piscina = new Piscina({
      filename: workerEntry(),
      minThreads: size,
      maxThreads: size,
      idleTimeout: Number.POSITIVE_INFINITY,
      concurrentTasksPerWorker: 1,
      atomics: 'sync',
      loadBalancer: (task, workers) => {
        const pin = (task as unknown as Record<symbol, { thread: number } | undefined>)[key];
        for (const w of workers) if (w.id === pin?.thread && w.currentUsage === 0 && !w.terminating) return w;
        return null;
      },
    });
    this.piscina.on('workerCreate', (w: { id: number }) => {
      // Busy until its channel is attached: the first task the worker runs.
      const slot: WorkerSlot = {
        thread: w.id,
        channel: createChannel(),
        busy: true,
        residents: new Set(),
        digests: new Set(),
        unloads: [],
      };
      this.slots.set(w.id, slot);
      events.onWorker(slot);
      void this.run(slot, { op: 'attach', channel: slot.channel.sab }).then(
        () => {
          slot.busy = false;
          events.onReady(slot);
        },
        () => {},
      );
    });
    this.piscina.on('workerDestroy', (w: { id: number }) => {
      const slot = this.slots.get(w.id);
      if (!slot) return;
      this.slots.delete(w.id);
      events.onWorkerLost(slot);
    });
    // Worker errors reject the task that was running; the kernel handles them there.
    this.piscina.on('error', () => {});
  }

  /** Starts `size` workers and resolves when all are up. */
  static async start(size: number, events: PoolEvents): Promise<WorkerPool> {
    const pool = new WorkerPool(size, events);
    const deadline = Date.now() + 30_000;
    while (pool.slots.size < size || [...pool.slots.values()].some((s) => s.busy)) {
      if (Date.now() > deadline)
        throw new Error(`only ${pool.slots.size} of ${size} workers started in 30 s`);
      await new Promise((r) => setTimeout(r, 2));
    }
    return pool;
  }

  /** A free worker, preferring the one with the fewest resident instances. */
  freeSlot(): WorkerSlot | undefined {
    let best: WorkerSlot | undefined;
    for (const s of this.slots.values()) {
      if (s.busy) continue;
      if (!best || s.residents.size < best.residents.size) best = s;
    }
    return best;
  }

  /** Runs `task` on the worker `slot` (which the caller marked busy). */
  run(slot: WorkerSlot, task: Task): Promise<TaskResult> {
    const pinned = task as PinnedTask;
    pinned[Piscina.queueOptionsSymbol] = { thread: slot.thread };
    return this.piscina.run(pinned) as Promise<TaskResult>;
  }

  async close(): Promise<void> {
    await this.piscina.destroy();
  }
}
