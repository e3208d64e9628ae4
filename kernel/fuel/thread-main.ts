/**
 * The fuel pass thread's entry (see thread.ts): loads binaryen once, then meters each module it
 * is sent, in order. binaryen prints warnings (an unknown name subsection) and validator dumps
 * to the console; they are silenced before it loads, and a failed validation is reported as a
 * coded error instead.
 */
import { parentPort } from 'node:worker_threads';
import type { ThreadJob, ThreadMessage } from './thread.js';

const quiet = (): void => {};
console.log = quiet;
console.warn = quiet;
console.error = quiet;

const port = parentPort!;
const post = (m: ThreadMessage, transfer: ArrayBuffer[] = []): void => port.postMessage(m, transfer);
// Jobs that arrive while binaryen loads wait for it.
const loaded = Promise.all([import('./pass.js'), import('../base/errors.js')]);
let chain = Promise.resolve();
port.on('message', ({ id, bytes, what }: ThreadJob) => {
  chain = chain.then(async () => {
    const [{ instrumentFuel }, { AgentOSError }] = await loaded;
    try {
      const result = instrumentFuel(bytes, what, (phase) => post({ id, phase }));
      post({ id, result }, [result.bytes.buffer as ArrayBuffer]);
    } catch (e) {
      const coded = e instanceof AgentOSError ? e : null;
      const message = e instanceof Error ? e.message : String(e);
      post({ id, error: { code: coded?.code ?? null, message, details: { ...coded?.details } } });
    }
  });
});
