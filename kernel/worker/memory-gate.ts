/**
 * The worker's side of the process-wide count of wasm memories (base/address-space.ts). Each
 * worker counts in its own cell: `admit` reserves the memories an instance will define (and
 * refuses with AOS_E_CAPACITY when the process would pass its capacity), `settle` replaces the
 * reservation with the memories the instance made, and `dropped` takes them off when the
 * instance goes. V8 frees a dropped memory only when it collects the worker's heap (a worker
 * waiting for commands blocks, so finalizers cannot count it), so the count is of instances
 * held; the garbage is kept small: `dropped` asks for a collection on a later turn once enough
 * waits, `admit` runs one before it refuses, V8 runs one before it fails an allocation, and the
 * mappings read every READ_EVERY memories see garbage too. A worker that dies takes its count
 * with it (the kernel zeroes its cell).
 *
 * @example
 * configureGate(task.memories, task.memoryCell, task.space);
 * const refused = await admit(n); // null (n reserved), or the crash to return
 * settle(n, meter.memories());
 * dropped(meter.memories().length); // its instance went
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import {
  type AddressSpace,
  BOUNDED_MEMORY_BYTES,
  layout,
  MARGIN_HOLES,
  MARGIN_MAPPINGS,
  memoriesAlive,
} from '../base/address-space.js';
import { FUEL } from '../fuel/names.js';
import type { Crash } from './classify.js';

let cells: Int32Array | null = null;
let cell = 0;
let space: AddressSpace | null = null;
/** The count at which this worker next reads the process's mappings. */
let nextRead = 0;
const READ_EVERY = 128;
/** Memories of dropped instances not yet collected, and how many of them start a collection. */
let garbage = 0;
let collectAfter = 64;
const perDigest = new Map<string, number>();

/** The shared count and this worker's cell in it, and the address space the kernel measured. */
export function configureGate(counter: SharedArrayBuffer, own: number, measured: AddressSpace): void {
  cells = new Int32Array(counter);
  cell = own;
  space = measured;
  // Garbage held back by every worker stays well inside the margin, however small the capacity.
  collectAfter = Math.max(1, Math.min(64, Math.floor(measured.capacity / 64)));
}

/** Why the process has no room for what is counted now, or null (the mappings read every READ_EVERY memories). */
function noRoom(n: number): string | null {
  const alive = memoriesAlive(cells!);
  const s = space!;
  if (alive > s.capacity) return `this process holds at most ${s.capacity}`;
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

/**
 * An instance's memory cap as this process enforces it: without the trap handler at most the
 * bound every memory is declared with, so a cap kept from a process with the trap handler ends a
 * grow with AOS_E_MEMORY_LIMIT rather than a failed `memory.grow`.
 */
export function memoryCap(bytes: number): number {
  return space && !space.trapHandler ? Math.min(bytes, BOUNDED_MEMORY_BYTES) : bytes;
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
    const exposed = (globalThis as { gc?: () => void }).gc;
    if (typeof exposed === 'function') gc = exposed;
    else {
      try {
        // Exposed for one new context only; the flag goes back as it was (it was off: no gc).
        setFlagsFromString('--expose-gc');
        gc = runInNewContext('gc') as () => void;
        setFlagsFromString('--no-expose-gc');
      } catch {
        gc = null;
      }
    }
  }
  if (!gc) return false;
  gc();
  garbage = 0;
  return true;
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Reserves `n` memories and returns null, or returns the AOS_E_CAPACITY crash (nothing reserved). */
export async function admit(n: number): Promise<Crash | null> {
  if (!cells || !space || n === 0) return null;
  Atomics.add(cells, cell, n);
  let bound = noRoom(n);
  if (bound === null) return null;
  // What V8 frees shows in the mappings read again (the count already left the garbage out).
  if (collect()) {
    await turn();
    nextRead = 0;
    bound = noRoom(n);
    if (bound === null) return null;
  }
  Atomics.sub(cells, cell, n);
  const alive = memoriesAlive(cells);
  const capacity = space.capacity;
  return {
    message: `no room for ${n} more wasm memor${n === 1 ? 'y' : 'ies'}: ${alive} are alive and ${bound} (docs/components.md, resident instances per process)`,
    code: 'AOS_E_CAPACITY',
    details: { alive, needed: n, capacity },
  };
}

/**
 * Reserves `n` memories for a spare instance (worker/spares.ts) only while the process has room
 * for many more: a capacity of at least SPARE_CAPACITY and, with them, at most a quarter of it
 * alive. Never collects, never waits; false reserves nothing.
 */
export function admitSpare(n: number): boolean {
  if (!cells || !space) return n === 0;
  if (space.capacity < SPARE_CAPACITY || memoriesAlive(cells) + n > space.capacity / 4) return false;
  Atomics.add(cells, cell, n);
  if (noRoom(n) === null) return true;
  Atomics.sub(cells, cell, n);
  return false;
}

/**
 * Whether the process holds more than a quarter of its capacity: a worker then drops its spare
 * instances (at its next idle moment, after each command), so they never crowd out real starts.
 */
export function crowded(): boolean {
  return cells !== null && space !== null && memoriesAlive(cells) > space.capacity / 4;
}

/** The smallest process capacity (in memories) at which workers keep spare instances. */
export const SPARE_CAPACITY = 1024;

/** The instance that reserved `reserved` started (or failed): the memories it made counted instead. */
export function settle(reserved: number, memories: readonly WebAssembly.Memory[]): void {
  if (cells) Atomics.add(cells, cell, memories.length - reserved);
}

let collecting = false;

/**
 * An instance holding `n` memories was dropped: once enough garbage memories wait, a collection
 * runs on a later turn (the call that dropped it may still hold it on its stack).
 */
export function dropped(n: number): void {
  if (!cells || n === 0) return;
  Atomics.sub(cells, cell, n);
  garbage += n;
  if (garbage < collectAfter || collecting) return;
  collecting = true;
  setImmediate(() => {
    collecting = false;
    collect();
  });
}
