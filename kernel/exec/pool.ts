/**
 * The worker pool. Piscina owns the threads: it starts them, replaces one that dies, and stops
 * them. Each worker runs one long piscina task, `serve`, for its whole life; the kernel hands it
 * work over the worker's command channel (SharedArrayBuffer + Atomics) and the worker calls the
 * kernel back over its hostcall channel. A task always goes to the worker that holds the agent's
 * resident instance; the executor never gives a worker a second task before the first returns.
 *
 * @example
 * const pool = await WorkerPool.start(2, events);
 * const result = await pool.run(pool.freeSlot()!, { op: 'unload', agents: ['a'] });
 */
import '../base/wasm-features.js'; // first: extended-const before any compile
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { addressSpace, claimCell, memoryCounter, releaseCell } from '../base/address-space.js';
import { AgentOSError } from '../base/errors.js';
import { compiledEntry } from '../base/paths.js';
import { type Channel, createChannel } from '../bridge/channel.js';
import { CommandSender, createCommandBuffer } from '../bridge/commands.js';
import { createParkChannel, createWanted, type ParkChannel } from '../bridge/park.js';
import { createPostRing, type PostRing } from '../bridge/post-ring.js';
import {
  type BatchResult,
  commandResultBytes,
  DEFAULT_MAX_RESULT_BYTES,
  DEFAULT_SPARES,
  type HandleBatchTask,
  type ServeTask,
  type Task,
  type TaskResult,
} from '../worker/protocol.js';
import type { Killed } from './watchdog.js';

/** The worker entry as compiled JS (a CommonJS file that imports the worker: worker/entry.cts). */
export function workerEntry(): string {
  return compiledEntry(new URL('../worker/entry.cjs', import.meta.url), 'kernel/worker/entry.cjs');
}

export interface WorkerSlot {
  readonly thread: number;
  /** Worker → kernel calls. */
  readonly channel: Channel;
  /** Kernel → worker tasks. */
  readonly commands: CommandSender;
  /** Carries compiled modules, which a shared buffer cannot. */
  readonly port: MessagePort;
  /** Where the worker parks a preempted call. */
  readonly park: ParkChannel;
  /** Calls the worker answered itself, for the kernel to apply. */
  readonly posts: PostRing;
  busy: boolean;
  /** Agents with a live instance on this worker. */
  readonly residents: Set<string>;
  /** Component digests whose compiled modules this worker holds. */
  readonly digests: Set<string>;
  /** Agents whose instances this worker should drop as soon as it is free. */
  readonly unloads: string[];
  /** An extra worker the pool let go (idle, nothing resident): not a loss. */
  retired?: boolean;
  /** Its cell of the process's count of wasm memories; -1 once given back (base/address-space.ts). */
  memoryCell: number;
  /** Why the kernel terminated this worker (a call past its deadline: watchdog.ts), if it did. */
  killed?: Killed;
  /** Terminates the worker's thread (piscina aborts its serve task and starts a replacement). */
  readonly abort: AbortController;
}

export interface PoolEvents {
  /** A worker started: the kernel starts serving its hostcall channel. */
  onWorker(slot: WorkerSlot): void;
  /** A worker takes work. */
  onReady(slot: WorkerSlot): void;
  /** A worker died: its instances are gone. */
  onWorkerLost(slot: WorkerSlot): void;
  /**
   * A command run for `agent` returned, before its result is handed on: the calls the worker
   * posted meanwhile are applied now.
   */
  onCommandEnd(slot: WorkerSlot, agent: string): void;
}

/** An extra worker with nothing resident retires after this long idle. */
export const RETIRE_IDLE_MS = 30_000;

export class WorkerPool {
  readonly slots = new Map<number, WorkerSlot>();
  /** How much work waits for a CPU permit; every worker reads it (bridge/park.ts). */
  readonly wanted = createWanted();
  /** Instances started from a spare (worker/spares.ts), for tests and benchmarks. */
  spareStarts = 0;
  /** The base pool, then one single-thread pool per extra worker. */
  private readonly pools: Piscina[] = [];
  /** Extra workers, by thread: their pool and when they last went idle. */
  private readonly extras = new Map<number, { pool: Piscina; idleSince: number }>();
  /** Extra workers asked for and not started yet. */
  private growing = 0;
  private readonly retireTimer: ReturnType<typeof setInterval>;
  /** While the pool starts: called as each worker is created. */
  private created: (() => void) | undefined;
  /** Extra pools being destroyed (close waits for them). */
  private readonly retiring = new Set<Promise<void>>();
  private closing = false;

  private constructor(
    size: number,
    private readonly max: number,
    private readonly events: PoolEvents,
    private readonly retireMs: number,
    private readonly maxResultBytes: number,
    private readonly spares: number,
  ) {
    this.pools.push(this.spawn(size, false));
    this.retireTimer = setInterval(() => this.retireIdle(), retireMs / 3);
    this.retireTimer.unref();
  }

  /** A piscina pool of `threads` workers, each serving its command channel. */
  private spawn(threads: number, extra: boolean): Piscina {
    const key = Piscina.queueOptionsSymbol;
    const piscina = new Piscina({
      filename: workerEntry(),
      minThreads: threads,
      maxThreads: threads,
      idleTimeout: Number.POSITIVE_INFINITY,
      concurrentTasksPerWorker: 1,
      atomics: 'disabled',
      // Each serve task goes to the worker it was made for.
      loadBalancer: (task, workers) => {
        const pin = (task as unknown as Record<symbol, { thread: number } | undefined>)[key];
        for (const w of workers) if (w.id === pin?.thread && w.currentUsage === 0 && !w.terminating) return w;
        return null;
      },
    });
    piscina.on('workerCreate', (w: { id: number }) => {
      const { port1, port2 } = new MessageChannel();
      const slot: WorkerSlot = {
        thread: w.id,
        channel: createChannel(),
        commands: new CommandSender(createCommandBuffer(), {
          maxResultBytes: commandResultBytes(this.maxResultBytes),
        }),
        port: port1,
        park: createParkChannel(),
        posts: createPostRing(),
        busy: false,
        memoryCell: claimCell(),
        residents: new Set(),
        digests: new Set(),
        unloads: [],
        abort: new AbortController(),
      };
      port1.unref();
      this.slots.set(w.id, slot);
      if (extra) {
        this.growing = Math.max(0, this.growing - 1);
        this.extras.set(w.id, { pool: piscina, idleSince: performance.now() });
      }
      this.events.onWorker(slot);
      const serve: ServeTask & { [key: symbol]: { thread: number } } = {
        op: 'serve',
        channel: slot.channel.sab,
        commands: slot.commands.sab,
        port: port2,
        park: slot.park.sab,
        wanted: this.wanted,
        posts: slot.posts.sab,
        maxResultBytes: this.maxResultBytes,
        memories: memoryCounter(),
        memoryCell: slot.memoryCell,
        space: addressSpace(),
        spares: this.spares,
        [key]: { thread: w.id },
      };
      // The serve task ends however the worker ends (stopped, thrown, exited): that is the
      // loss signal, since a worker that exits is reported by piscina under thread id -1.
      piscina.run(serve, { transferList: [port2], signal: slot.abort.signal }).then(
        () => this.lose(slot, new Error('the worker stopped serving')),
        (e: unknown) => this.lose(slot, new Error(`the worker died: ${(e as Error)?.message ?? e}`)),
      );
      this.events.onReady(slot);
      this.created?.();
    });
    piscina.on('workerDestroy', (w: { id: number }) => {
      const slot = this.slots.get(w.id);
      if (slot) this.lose(slot, new Error('the worker was destroyed'));
    });
    // A worker's error rejects its serve task; the slot's commands fail with it.
    piscina.on('error', () => {});
    return piscina;
  }

  /** The worker behind `slot` is gone (once, whichever signal comes first). */
  private lose(slot: WorkerSlot, why: Error): void {
    slot.commands.fail(why);
    // Its memories went with it (or go as it is torn down): the room is the process's again.
    if (slot.memoryCell >= 0) releaseCell(slot.memoryCell);
    slot.memoryCell = -1;
    if (this.slots.get(slot.thread) !== slot) return;
    this.slots.delete(slot.thread);
    this.extras.delete(slot.thread);
    slot.port.close();
    if (!this.closing) this.events.onWorkerLost(slot);
  }

  /**
   * Starts `size` workers (growing up to `max` when blocked calls hold them all; an extra
   * worker idle for `retireMs` with nothing resident retires). A call may return up to
   * `maxResultBytes` (chunked over the command channel past its buffer). Each worker keeps
   * `spares` spare instances per component it started lately (worker/spares.ts).
   */
  static async start(
    size: number,
    events: PoolEvents,
    max = size,
    retireMs = RETIRE_IDLE_MS,
    maxResultBytes = DEFAULT_MAX_RESULT_BYTES,
    spares = DEFAULT_SPARES,
  ): Promise<WorkerPool> {
    const pool = new WorkerPool(size, Math.max(size, max), events, retireMs, maxResultBytes, spares);
    // Each worker piscina creates says so (workerCreate); 30 s without all of them is a failure.
    const all = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 30_000);
      pool.created = () => {
        if (pool.slots.size < size) return;
        clearTimeout(timer);
        resolve(true);
      };
      pool.created();
    });
    pool.created = undefined;
    if (!all) {
      const started = pool.slots.size;
      await pool.close();
      throw new AgentOSError('AOS_E_INTERNAL', `only ${started} of ${size} workers started in 30 s`, {
        started,
        size,
      });
    }
    return pool;
  }

  /**
   * Terminates the worker behind `slot` (a call on it ran past its deadline without reaching a
   * metering point): its command fails, its instances are gone, and piscina starts a
   * replacement. `why` stays on the slot for whoever settles the command.
   */
  kill(slot: WorkerSlot, why: Killed): void {
    if (this.slots.get(slot.thread) !== slot || slot.killed) return;
    slot.killed = why;
    slot.abort.abort(new Error(`${why.agent} ran ${why.ms} ms past a deadline of ${why.deadlineMs} ms`));
  }

  /**
   * For fault-injection tests: ends the thread behind `slot` as a thread that dies by itself
   * would end (an engine crash, an out-of-memory abort). Unlike `kill` it leaves no `killed` on
   * the slot, so the kernel settles the loss as a lost worker, not as a deadline; piscina starts
   * a replacement. Resolves once the thread has exited.
   */
  async exitThread(slot: WorkerSlot): Promise<void> {
    const thread = this.pools.flatMap((p) => p.threads).find((t) => t.threadId === slot.thread);
    if (!thread) throw new Error(`no thread ${slot.thread} in the pool`);
    await thread.terminate();
  }

  /**
   * Adds one worker, unless one is already on its way or the pool is at its maximum. Returns
   * whether it asked for one (it serves once started: onReady).
   */
  grow(): boolean {
    if (this.closing || this.growing > 0 || this.slots.size >= this.max) return false;
    this.growing++;
    this.pools.push(this.spawn(1, true));
    return true;
  }

  /** Extra workers that hold no instance and have been idle long enough go away. */
  private retireIdle(): void {
    const now = performance.now();
    for (const [thread, extra] of this.extras) {
      const slot = this.slots.get(thread);
      if (!slot || slot.busy || slot.residents.size > 0) {
        extra.idleSince = now;
        continue;
      }
      if (now - extra.idleSince < this.retireMs) continue;
      this.extras.delete(thread);
      this.pools.splice(this.pools.indexOf(extra.pool), 1);
      slot.busy = true; // never given work again
      slot.retired = true;
      slot.commands.stop();
      const gone = extra.pool.destroy().finally(() => this.retiring.delete(gone));
      this.retiring.add(gone);
    }
  }

  /**
   * A free worker, preferring the one with the fewest resident instances, and a base worker to
   * an extra one (so extra workers stay empty, and can retire, unless they are needed).
   */
  freeSlot(): WorkerSlot | undefined {
    let best: WorkerSlot | undefined;
    let bestExtra = true;
    for (const s of this.slots.values()) {
      if (s.busy) continue;
      const extra = this.extras.has(s.thread);
      if (!best || (bestExtra && !extra) || (bestExtra === extra && s.residents.size < best.residents.size)) {
        best = s;
        bestExtra = extra;
      }
    }
    return best;
  }

  /** Runs `task` on the worker `slot` (which the caller marked busy). Rejects if the worker dies. */
  run(slot: WorkerSlot, task: Task): Promise<TaskResult> {
    if (task.op !== 'load') return this.command(slot, task) as Promise<TaskResult>;
    if (task.modules) {
      slot.port.postMessage({ digest: task.digest, modules: task.modules });
      const { modules: _m, ...rest } = task;
      task = { ...rest, modulesOnPort: true };
    }
    return (this.command(slot, task) as Promise<TaskResult>).then((r) => {
      if (r.kind !== 'missing' && r.spare) this.spareStarts++;
      return r;
    });
  }

  /** Runs a `handleBatch` task on `slot` (which the caller marked busy). */
  runBatch(slot: WorkerSlot, task: HandleBatchTask): Promise<BatchResult> {
    return this.command(slot, task) as Promise<BatchResult>;
  }

  /** Sends `task`; whether it returns or the worker dies, what the worker posted is applied first. */
  private async command(slot: WorkerSlot, task: Task): Promise<unknown> {
    try {
      return await slot.commands.send(task);
    } finally {
      const extra = this.extras.get(slot.thread);
      if (extra) extra.idleSince = performance.now();
      if (task.op !== 'unload') this.events.onCommandEnd(slot, task.agent);
    }
  }

  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.retireTimer);
    for (const slot of this.slots.values()) slot.commands.stop();
    await Promise.all([...this.pools.map((p) => p.destroy()), ...this.retiring]);
  }
}
