/**
 * Runs the fuel pass on its own thread: instrumenting a 12 MB SpiderMonkey core takes ~4 s and
 * ~400 MB, which must neither block the kernel's event loop nor stay resident after. The thread
 * gets a deep stack, since the walk recurses as deep as the module's expressions nest.
 *
 * @example
 * const { bytes } = await instrumentInThread(core, 'component.core.wasm', (p) => console.log(p));
 */
import { Worker } from 'node:worker_threads';
import { AgentOSError, type ErrorCode } from '../base/errors.js';
import { compiledEntry } from '../base/paths.js';
import type { FuelPhase, FuelResult } from './pass.js';

/** What the thread posts back. */
export type ThreadMessage =
  | { phase: FuelPhase }
  | { result: FuelResult }
  | { error: { code: ErrorCode | null; message: string; details: Record<string, unknown> } };

export function instrumentInThread(
  bytes: Uint8Array,
  what: string,
  onPhase?: (phase: FuelPhase) => void,
): Promise<FuelResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(
      new URL(compiledEntry(new URL('./thread-main.js', import.meta.url), 'kernel/fuel/thread-main.js')),
      { workerData: { bytes, what }, resourceLimits: { stackSizeMb: 64 } },
    );
    let settled = false;
    worker.on('message', (m: ThreadMessage) => {
      if ('phase' in m) onPhase?.(m.phase);
      else if ('result' in m) {
        settled = true;
        resolve(m.result);
      } else {
        settled = true;
        reject(
          m.error.code
            ? new AgentOSError(m.error.code, m.error.message, m.error.details)
            : new AgentOSError('AOS_E_FUEL_UNSUPPORTED', `${what}: the fuel pass failed: ${m.error.message}`),
        );
      }
    });
    worker.on('error', (e) => {
      settled = true;
      reject(
        new AgentOSError(
          'AOS_E_FUEL_UNSUPPORTED',
          `${what}: the fuel pass failed: ${e.message}`,
          {},
          { cause: e },
        ),
      );
    });
    worker.on('exit', (code) => {
      if (!settled)
        reject(new AgentOSError('AOS_E_INTERNAL', `the fuel pass thread for ${what} exited (${code})`));
    });
  });
}
