/**
 * The import object of an instance: each function the instance was linked with is a stub that
 * calls the kernel over the worker's hostcall channel; a function the worker may answer itself
 * (its capability's worker module, `Capability.worker`) is answered here when it can be, and
 * posted to the kernel.
 *
 * @example
 * const sides = await workerSides(task.workerModules);
 * const { imports, locals } = importObject(task.imports, sides, { client, posts, current: () => 0 });
 * glue.instantiate(getCoreModule, imports, meter.instantiateCore);
 */
import { ABI_VERSION, jsName, PACKAGE } from '../base/abi.js';
import { type HostcallClient, Status } from '../bridge/channel.js';
import type { PostWriter } from '../bridge/post-ring.js';
import type { LocalFunction, WorkerSide } from '../sdk/capability.js';
import type { ErrorValue, LoadTask } from './protocol.js';

/** Each worker module once per worker: URL → its `local` export. */
const modules = new Map<string, Promise<WorkerSide>>();

/** The worker sides an instance needs, by glue key, with their functions by JS name. */
export async function workerSides(
  urls: Readonly<Record<string, string>>,
): Promise<Map<string, Map<string, () => LocalFunction>>> {
  const out = new Map<string, Map<string, () => LocalFunction>>();
  for (const [key, url] of Object.entries(urls)) {
    let side = modules.get(url);
    if (!side) {
      side = import(url).then((m: { local: WorkerSide }) => m.local);
      modules.set(url, side);
    }
    const fns = new Map<string, () => LocalFunction>();
    for (const [fn, make] of Object.entries(await side)) fns.set(jsName(fn), make);
    out.set(key, fns);
  }
  return out;
}

/** Where a stub's call goes: the hostcall channel, the post ring, and which message runs. */
export interface Link {
  client: HostcallClient;
  posts: PostWriter;
  /** Which message of the current command runs (a batch has several); posted calls carry it. */
  current: () => number;
  /** True while the instance is a spare (worker/spares.ts): a call then ends its instantiation. */
  sparing?: boolean;
}

/** An Error with `payload`: jco's glue lowers it into the import's `err(...)`. */
class HostcallError extends Error {
  constructor(readonly payload: ErrorValue) {
    super(payload.val);
  }
}

function stub(link: Link, fn: number, local?: LocalFunction): (...args: unknown[]) => unknown {
  return (...args: unknown[]) => {
    if (link.sparing) throw new Error('a spare instance called the kernel while it was instantiated');
    if (local) {
      const answer = local.answer(args);
      if (answer && link.posts.post(fn, link.current(), args, answer.value)) {
        answer.commit();
        return answer.value;
      }
      local.willAsk?.(args);
    }
    const { status, value, aside } = link.client.call(fn, args);
    if (aside !== undefined) local?.onNote?.(args, aside);
    if (status === Status.Ok) return value;
    if (status === Status.GuestError) throw new HostcallError(value as ErrorValue);
    // A kernel fault: throwing a plain Error ends the invocation (the instance is discarded).
    throw new Error(String(value));
  };
}

export type Imports = Record<string, Record<string, (...args: unknown[]) => unknown>>;

/** What jco's glue module exports (instantiation: 'sync'). */
export interface Glue {
  instantiate(
    getCoreModule: (name: string) => WebAssembly.Module,
    imports: Imports,
    instantiateCore: (module: WebAssembly.Module, imports?: WebAssembly.Imports) => WebAssembly.Instance,
  ): Record<string, (...args: unknown[]) => unknown>;
}

/** The import object for `plan`, and the worker-answered functions in it. */
export function importObject(
  plan: LoadTask['imports'],
  sides: ReadonlyMap<string, ReadonlyMap<string, () => LocalFunction>>,
  link: Link,
): { imports: Imports; locals: LocalFunction[] } {
  const imports: Imports = {};
  const locals: LocalFunction[] = [];
  for (const [key, fns] of Object.entries(plan)) {
    const iface: Record<string, (...args: unknown[]) => unknown> = {};
    const side = sides.get(key);
    for (const [name, id] of Object.entries(fns)) {
      const local = side?.get(name)?.();
      if (local) locals.push(local);
      iface[name] = stub(link, id, local);
    }
    imports[key] = iface;
    // The glue reads the unversioned key; tools reading the .d.ts expect the versioned one.
    if (key.startsWith(`${PACKAGE}/`)) imports[`${key}@${ABI_VERSION}`] = iface;
  }
  return { imports, locals };
}

/** The command ended: what the kernel granted for it (credits) is void (it takes them back too). */
export function endCommand(locals: readonly LocalFunction[]): void {
  for (const l of locals) l.commandEnded?.();
}
