/**
 * The worker's side of the process-wide count of wasm memories (base/address-space.ts): before
 * an instance starts, `admit` checks that the memories it will define fit under the process's
 * capacity; after, `track` counts the memories it made, each until V8 collects it (a dropped
 * instance's memory is freed only then). At the capacity, one full collection of this worker's
 * heap is tried before the instance is refused, so memories of instances already dropped do
 * not keep room taken.
 *
 * @example
 * configureGate(task.memories, task.memoryCapacity);
 * const refused = await admit(memoriesOf(digest, modules)); // null, or the crash to return
 * track(meter.memories());
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { type AddressSpace, layout, MARGIN_HOLES, MARGIN_MAPPINGS } from '../base/address-space.js';
import { FUEL } from '../fuel/names.js';
import type { Crash } from './classify.js';

let live: Int32Array | null = null;
let space: AddressSpace | null = null;
/** The count at which this worker next reads the process's mappings. */
let nextRead = 0;
const READ_EVERY = 128;
const perDigest = new Map<string, number>();
const collected = new FinalizationRegistry<null>(() => {
  if (live) Atomics.sub(live, 0, 1);
});

/** The shared count, and the process's address space as the kernel measured it. */
export function configureGate(counter: SharedArrayBuffer, measured: AddressSpace): void {
  live = new Int32Array(counter);
  space = measured;
}

/** Why `n` memories more do not fit, or null when they do (the mappings read every READ_EVERY memories). */
function noRoom(n: number): string | null {
  const alive = Atomics.load(live!, 0);
  const s = space!;
  if (alive + n > s.capacity) return `this process holds at most ${s.capacity}`;
  if (alive < nextRead) return null;
  const now = layout(s.reservation);
  if (now === null) return null;
  if (s.maxMappings !== null && now.mappings + 2 * n + MARGIN_MAPPINGS > s.maxMappings)
    return `the process has ${now.mappings} mappings of vm.max_map_count's ${s.maxMappings}`;
  if (now.holes < n + MARGIN_HOLES)
    return `the process's address space has room for ${now.holes} more of ${s.reservation / 2 ** 30} GiB`;
  nextRead = alive + READ_EVERY;
  return null;
}

/** How many memories an instance of this component defines (a core module exporting its memory for snapshots). */
export function memoriesOf(digest: string, modules: Record<string, WebAssembly.Module>): number {
  let n = perDigest.get(digest);
  if (n === undefined) {
    const name = `${FUEL.snapPrefix}memory_0`;
    n = Object.values(modules).filter((m) =>
      WebAssembly.Module.exports(m).some((e) => e.name === name),
    ).length;
    perDigest.set(digest, n);
  }
  return n;
}

let gc: (() => void) | null | undefined;

/** A full collection of this worker's heap, where V8 lets one be asked for. */
function collect(): boolean {
  if (gc === undefined) {
    try {
      setFlagsFromString('--expose-gc');
      gc = runInNewContext('gc') as () => void;
      setFlagsFromString('--no-expose-gc');
    } catch {
      gc = null;
    }
  }
  if (!gc) return false;
  gc();
  return true;
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Null when `n` more memories fit; else the AOS_E_CAPACITY crash for the instance that needs them. */
export async function admit(n: number): Promise<Crash | null> {
  if (!live || !space || n === 0) return null;
  let bound = noRoom(n);
  if (bound === null) return null;
  // Finalizers run after the collection, on a later turn of this worker's loop.
  if (collect()) {
    await turn();
    await turn();
    nextRead = 0;
    bound = noRoom(n);
    if (bound === null) return null;
  }
  const alive = Atomics.load(live, 0);
  const capacity = space.capacity;
  return {
    message: `no room for ${n} more wasm memor${n === 1 ? 'y' : 'ies'}: ${alive} are alive and ${bound} (docs/components.md, resident instances per process)`,
    code: 'AOS_E_CAPACITY',
    details: { alive, needed: n, capacity },
  };
}

/** Counts each memory until it is collected. */
export function track(memories: readonly WebAssembly.Memory[]): void {
  if (!live) return;
  for (const m of memories) {
    Atomics.add(live, 0, 1);
    collected.register(m, null);
  }
}
