/**
 * The fuel pass thread's entry (see thread.ts): meters each module it is sent, in order, and
 * posts back the result or the coded error.
 */
import { parentPort } from 'node:worker_threads';
import type { ThreadJob, ThreadMessage } from './thread.js';

const port = parentPort!;
const post = (m: ThreadMessage, transfer: ArrayBuffer[] = []): void => port.postMessage(m, transfer);
// Jobs that arrive while the pass loads wait for it.
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
