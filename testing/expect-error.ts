/** Test helper: awaits a rejection (or a throw) and returns `CODE: message`. */
import { AgentOSError } from '../kernel/base/errors.js';

export async function codeOf(f: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof f === 'function' ? f() : f);
  } catch (e) {
    if (!(e instanceof AgentOSError)) throw e;
    return `${e.code}: ${e.message}`;
  }
  throw new Error('expected a coded error, got success');
}

/** The coded error a call rejects with (it must reject). */
export async function errorOf(p: Promise<unknown>): Promise<AgentOSError> {
  const e = await p.then(
    () => null,
    (x: unknown) => x,
  );
  if (!(e instanceof AgentOSError)) throw new Error(`expected an AgentOSError, got ${String(e)}`);
  return e;
}
