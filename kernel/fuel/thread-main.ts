/**
 * The fuel pass thread's entry (see thread.ts). binaryen prints warnings (an unknown name
 * subsection) and validator dumps to the console; they are silenced before it loads, and a
 * failed validation is reported as a coded error instead.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { ThreadMessage } from './thread.js';

const quiet = (): void => {};
console.log = quiet;
console.warn = quiet;
console.error = quiet;

const { bytes, what } = workerData as { bytes: Uint8Array; what: string };
const post = (m: ThreadMessage, transfer: ArrayBuffer[] = []): void => parentPort!.postMessage(m, transfer);
const { instrumentFuel } = await import('./pass.js');
const { AgentOSError } = await import('../base/errors.js');
try {
  const result = instrumentFuel(bytes, what, (phase) => post({ phase }));
  post({ result }, [result.bytes.buffer as ArrayBuffer]);
} catch (e) {
  const coded = e instanceof AgentOSError ? e : null;
  const message = e instanceof Error ? e.message : String(e);
  post({ error: { code: coded?.code ?? null, message, details: { ...coded?.details } } });
}
