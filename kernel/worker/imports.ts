/**
 * The import object of an instance: each function the instance was linked with is a stub that
 * calls the kernel over the worker's hostcall channel; a function the worker may answer itself
 * (hostcalls/worker-side.ts) is answered here when it can be, and posted to the kernel.
 *
 * @example
 * const { imports, locals } = importObject(task.imports, { client, posts, current: () => 0 });
 * glue.instantiate(getCoreModule, imports, meter.instantiateCore);
 */
import { LOCAL_FUNCTIONS } from '../../hostcalls/worker-side.js';
import { type HostcallClient, Status } from '../bridge/channel.js';
import type { PostWriter } from '../bridge/post-ring.js';
import type { LocalFunction } from '../capability.js';
import type { ErrorValue, LoadTask } from './protocol.js';

/** Where a stub's call goes: the hostcall channel, the post ring, and which message runs. */
export interface Link {
  client: HostcallClient;
  posts: PostWriter;
  /** Which message of the current command runs (a batch has several); posted calls carry it. */
  current: () => number;
}

/** An Error with `payload`: jco's glue lowers it into the import's `err(...)`. */
class HostcallError extends Error {
  constructor(readonly payload: ErrorValue) {
    super(payload.val);
  }
}

function stub(link: Link, fn: number, local?: LocalFunction): (...args: unknown[]) => unknown {
  return (...args: unknown[]) => {
    if (local) {
      const answer = local.answer(args);
      if (answer && link.posts.post(fn, link.current(), args, answer.value)) {
        answer.commit();
        return answer.value;
      }
      local.asking?.(args);
    }
    const { status, value, aside } = link.client.call(fn, args);
    if (aside !== undefined) local?.told?.(args, aside);
    if (status === Status.Ok) return value;
    if (status === Status.GuestError) throw new HostcallError(value as ErrorValue);
    // A kernel fault: throwing a plain Error ends the invocation (the instance is discarded).
    throw new Error(String(value));
  };
}

export type Imports = Record<string, Record<string, (...args: unknown[]) => unknown>>;

/** The import object for `plan`, and the worker-answered functions in it. */
export function importObject(
  plan: LoadTask['imports'],
  link: Link,
): { imports: Imports; locals: LocalFunction[] } {
  const imports: Imports = {};
  const locals: LocalFunction[] = [];
  for (const [key, fns] of Object.entries(plan)) {
    const iface: Record<string, (...args: unknown[]) => unknown> = {};
    const cap = key.slice(key.indexOf('/') + 1);
    for (const [name, id] of Object.entries(fns)) {
      const local = LOCAL_FUNCTIONS[`${cap}.${name}`]?.();
      if (local) locals.push(local);
      iface[name] = stub(link, id, local);
    }
    imports[key] = iface;
    // The glue reads the unversioned key; tools reading the .d.ts expect the versioned one.
    imports[`${key}@0.1.0`] = iface;
  }
  return { imports, locals };
}

/** The command ended: credits the kernel granted for it lapse (it takes them back too). */
export function lapse(locals: readonly LocalFunction[]): void {
  for (const l of locals) l.reset?.();
}
