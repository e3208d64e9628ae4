/**
 * Runs the fuel pass on its own thread: metering a 12 MB SpiderMonkey core takes about half a
 * second, which must not block the kernel's event loop. One thread meters every core module it
 * is sent, one after the other; it starts with the first module (modules too small to be worth a
 * thread are metered in-process by the caller, transpile-cache.ts). The thread gets a deep stack,
 * in case a module nests deeper than the main thread's would allow.
 *
 * A module the pass fails on ends its thread; the next module gets a fresh one, so a failure
 * never leaves the next module with a thread in an unknown state.
 *
 * @example
 * const thread = new FuelThread();
 * try {
 *   const { bytes } = await thread.meter(core, 'component.core.wasm', (p) => console.log(p));
 * } finally {
 *   await thread.close();
 * }
 */
import { Worker } from 'node:worker_threads';
import { AgentOSError, type ErrorCode } from '../base/errors.js';
import { compiledEntry } from '../base/paths.js';
import type { FuelPhase, FuelResult } from './pass.js';

/** A module to meter, as posted to the thread. */
export interface ThreadJob {
  id: number;
  bytes: Uint8Array;
  what: string;
}

/** What the thread posts back about job `id`. */
export type ThreadMessage = { id: number } & (
  | { phase: FuelPhase }
  | { result: FuelResult }
  | { error: { code: ErrorCode | null; message: string; details: Record<string, unknown> } }
);

interface Job {
  bytes: Uint8Array;
  what: string;
  onPhase?: (phase: FuelPhase) => void;
  resolve: (r: FuelResult) => void;
  reject: (e: AgentOSError) => void;
}

const failed = (what: string, message: string, cause?: unknown): AgentOSError =>
  new AgentOSError('AOS_E_FUEL_UNSUPPORTED', `${what}: the fuel pass failed: ${message}`, {}, { cause });

export class FuelThread {
  private worker: Worker | null = null;
  private readonly jobs = new Map<number, Job>();
  private next = 0;
  /** Threads started so far: one once a module is sent, unless a module failed (each failure starts a fresh one). */
  started = 0;

  /**
   * Meters one core module on the thread (queued behind any module sent before it).
   * @throws AgentOSError as instrumentFuel does (AOS_E_FUEL_UNSUPPORTED, AOS_E_RESERVED_NAME)
   */
  meter(bytes: Uint8Array, what: string, onPhase?: (phase: FuelPhase) => void): Promise<FuelResult> {
    const worker = this.worker ?? this.spawn();
    this.worker = worker;
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.jobs.set(id, { bytes, what, onPhase, resolve, reject });
      worker.postMessage({ id, bytes, what } satisfies ThreadJob);
    });
  }

  /** Ends the thread (its memory goes with it); modules still queued fail. */
  async close(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    if (w) await w.terminate();
  }

  private spawn(): Worker {
    this.started++;
    const worker = new Worker(
      new URL(compiledEntry(new URL('./thread-main.js', import.meta.url), 'kernel/fuel/thread-main.js')),
      { resourceLimits: { stackSizeMb: 64 } },
    );
    worker.on('message', (m: ThreadMessage) => {
      const job = this.jobs.get(m.id);
      if (!job) return;
      if ('phase' in m) {
        job.onPhase?.(m.phase);
        return;
      }
      this.jobs.delete(m.id);
      if ('result' in m) job.resolve(m.result);
      else {
        job.reject(
          m.error.code
            ? new AgentOSError(m.error.code, m.error.message, m.error.details)
            : failed(job.what, m.error.message),
        );
        this.retire(worker); // the next module gets a fresh thread
      }
    });
    worker.on('error', (e) => this.failAll(worker, (what) => failed(what, e.message, e)));
    worker.on('exit', (code) =>
      this.failAll(
        worker,
        (what) => new AgentOSError('AOS_E_INTERNAL', `the fuel pass thread for ${what} exited (${code})`),
      ),
    );
    return worker;
  }

  /** Replaces `worker` after a failure: the modules queued on it go to a fresh thread, in their order. */
  private retire(worker: Worker): void {
    if (this.worker !== worker) return;
    worker.removeAllListeners();
    void worker.terminate();
    this.worker = null;
    if (this.jobs.size === 0) return;
    const fresh = this.spawn();
    this.worker = fresh;
    for (const [id, job] of this.jobs)
      fresh.postMessage({ id, bytes: job.bytes, what: job.what } satisfies ThreadJob);
  }

  /** The thread is gone: every module sent to it fails with `error`. */
  private failAll(worker: Worker, error: (what: string) => AgentOSError): void {
    if (this.worker === worker) this.worker = null;
    for (const [id, job] of this.jobs) {
      this.jobs.delete(id);
      job.reject(error(job.what));
    }
  }
}

/** Meters one module on a thread of its own, ended after. */
export async function instrumentInThread(
  bytes: Uint8Array,
  what: string,
  onPhase?: (phase: FuelPhase) => void,
): Promise<FuelResult> {
  const thread = new FuelThread();
  try {
    return await thread.meter(bytes, what, onPhase);
  } finally {
    await thread.close();
  }
}
