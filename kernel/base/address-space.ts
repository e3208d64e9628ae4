/**
 * How many wasm memories this process can hold, and the count of those alive across every
 * worker. Each resident instance holds one memory per core module that defines one (a QuickJS
 * component three, a SpiderMonkey one or a small wasm agent one), and what bounds them is the
 * process, not the machine's memory:
 * - with V8's trap handler (the default), every memory reserves 10 GiB of address space for its
 *   guard regions, so the 128 TiB of a 64-bit process hold about 13,000, fewer once V8's own
 *   mappings (placed at random addresses) break the holes up;
 * - with `--disable-wasm-trap-handler` (Node's flag, or V8's `--no-wasm-trap-handler`), a memory
 *   reserves only its declared maximum (the loader declares at most BOUNDED_MEMORY_BYTES, see
 *   loader/memory-maximum.ts) and V8 checks bounds in code instead; each memory takes two of the
 *   process's `vm.max_map_count` mappings (65,530 by default), so about 24,000 agents fit.
 * Past either, V8 fails to allocate; past the map count it can abort the whole process (any
 * mmap then fails, a JS heap's too). So workers count the memories they create in one
 * process-wide SharedArrayBuffer and refuse an instance that would pass the capacity with
 * AOS_E_CAPACITY; every few hundred memories they also read the process's mappings
 * (/proc/self/maps: how many, and the holes left that fit a reservation), since heaps grow with
 * the instances. `AGENTOS_WASM_MEMORIES` in the environment sets a lower capacity.
 *
 * @example
 * const space = addressSpace(); // { trapHandler: true, capacity: 12900, ... }
 * const cell = claimCell();       // a new worker's cell of the process-wide count
 * memoriesAlive(new Int32Array(memoryCounter())); // memories alive across the process
 */
import { readFileSync } from 'node:fs';
import { env, execArgv } from 'node:process';
import { AgentOSError } from './errors.js';

/** The largest memory a bounds-checked instance may declare: 1 GiB (16,384 pages). */
export const BOUNDED_MEMORY_BYTES = 1 << 30;
/** What V8 reserves per memory with the trap handler: guard regions around 4 GiB, 10 GiB in all. */
const GUARDED_RESERVATION = 10 * 1024 ** 3;
/** A 64-bit Linux process's user address space (47 bits), and the lowest address mmap uses. */
const USER_TOP = 2 ** 47;
const USER_BOTTOM = 0x10000;
/** Mappings kept for the rest of the process: heaps, stacks, code, LMDB. */
export const MARGIN_MAPPINGS = 4096;
/** Reservations kept free: the memories started by every worker between two reads, and V8's own. */
export const MARGIN_HOLES = 192;
/**
 * Mappings per memory, measured in a kernel: 2 for the memory, and its instance's share of the
 * worker's growing JS heap (2.2 in all for a small wasm agent, bench/address-space.ts).
 */
const MAPPINGS_PER_MEMORY = 2.5;

export interface AddressSpace {
  /** Whether V8's wasm trap handler is on (guard regions, no bounds checks in code). */
  trapHandler: boolean;
  /** Address space one memory reserves: 10 GiB, or BOUNDED_MEMORY_BYTES without the trap handler. */
  reservation: number;
  /** Memories this process may hold alive at once, as measured when the kernel opened. */
  capacity: number;
  /** The process's `vm.max_map_count` (null where it cannot be read). */
  maxMappings: number | null;
  /** What bounds it: the address space, the map count (`vm.max_map_count`), or the operator. */
  boundBy: 'address space' | 'vm.max_map_count' | 'AGENTOS_WASM_MEMORIES';
}

/** VmSize in bytes, or null without /proc. */
function vmSize(): number | null {
  try {
    const m = /VmSize:\s+(\d+)\s+kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/**
 * Whether V8 guards memories here, seen from what one 64 KiB memory reserves (10 GiB with the
 * trap handler): the flags say what the process was started with only if nobody changed
 * NODE_OPTIONS since. Null where /proc cannot tell.
 */
function guarded(): boolean | null {
  const before = vmSize();
  const probe = new WebAssembly.Memory({ initial: 1, maximum: 1 });
  const after = vmSize();
  void probe;
  return before === null || after === null ? null : after - before >= 8 * 1024 ** 3;
}

/** The lower capacity an operator set, or null; anything but a positive decimal integer is refused. */
function operatorCapacity(): number | null {
  const text = env.AGENTOS_WASM_MEMORIES;
  if (text === undefined || text === '') return null;
  if (!/^[1-9][0-9]{0,8}$/.test(text))
    throw new AgentOSError(
      'AOS_E_BAD_CONFIG',
      `AGENTOS_WASM_MEMORIES must be a positive whole number of wasm memories (at most 999999999), got ${JSON.stringify(text)}`,
    );
  return Number(text);
}

/** Whether the process was started without V8's wasm trap handler. */
export function trapHandlerDisabled(
  args: readonly string[] = execArgv,
  options = env.NODE_OPTIONS ?? '',
): boolean {
  let off = false;
  for (const f of [...args, ...options.split(/\s+/)]) {
    if (f === '--disable-wasm-trap-handler' || f === '--no-wasm-trap-handler') off = true;
    else if (f === '--wasm-trap-handler') off = false;
  }
  return off;
}

/** The process's mappings now: how many, and how many reservations of `size` bytes the holes between them fit. */
export function layout(size: number): { mappings: number; holes: number } | null {
  let text: string;
  try {
    text = readFileSync('/proc/self/maps', 'utf8');
  } catch {
    return null; // not Linux, or no /proc: nothing to read
  }
  let mappings = 0;
  let holes = 0;
  let prev = USER_BOTTOM;
  for (let at = 0; at < text.length; ) {
    const nl = text.indexOf('\n', at);
    const line = text.slice(at, nl < 0 ? text.length : nl);
    at = nl < 0 ? text.length : nl + 1;
    const dash = line.indexOf('-');
    if (dash < 0) continue;
    const start = Number.parseInt(line.slice(0, dash), 16);
    if (start >= USER_TOP) break; // [vsyscall]
    mappings++;
    if (start > prev) holes += Math.floor((start - prev) / size);
    prev = Math.max(prev, Number.parseInt(line.slice(dash + 1, line.indexOf(' ', dash)), 16));
  }
  holes += Math.floor(Math.max(0, USER_TOP - prev) / size);
  return { mappings, holes };
}

function maxMapCount(): number | null {
  try {
    const n = Number(readFileSync('/proc/sys/vm/max_map_count', 'utf8').trim());
    return Number.isSafeInteger(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
}

let measured: AddressSpace | null = null;

/** This process's capacity for wasm memories, measured once (at the first call). */
export function addressSpace(): AddressSpace {
  if (measured) return measured;
  const set = operatorCapacity();
  const trapHandler = guarded() ?? !trapHandlerDisabled();
  const reservation = trapHandler ? GUARDED_RESERVATION : BOUNDED_MEMORY_BYTES;
  const now = layout(reservation);
  const maxMappings = maxMapCount();
  // Without /proc: what 128 TiB hold, and the workers' reads have nothing to refine it with.
  const bySpace = Math.max(0, (now?.holes ?? Math.floor(USER_TOP / reservation)) - MARGIN_HOLES);
  const byMaps =
    maxMappings === null || now === null
      ? Number.POSITIVE_INFINITY
      : Math.max(0, Math.floor((maxMappings - now.mappings - MARGIN_MAPPINGS) / MAPPINGS_PER_MEMORY));
  measured = {
    trapHandler,
    reservation,
    capacity: Math.min(bySpace, byMaps),
    maxMappings,
    boundBy: byMaps < bySpace ? 'vm.max_map_count' : 'address space',
  };
  // An operator's lower bound, to keep room for something else in the process.
  if (set !== null && set < measured.capacity)
    measured = { ...measured, capacity: set, boundBy: 'AGENTOS_WASM_MEMORIES' };
  return measured;
}

/**
 * The process-wide count: one cell per worker (its memories alive, and those it has reserved
 * for an instance it is starting), so a worker that dies or a kernel that closes gives its
 * room back at once by zeroing its cell. Cell 0 holds how many cells are in use, at most. Kept
 * on `globalThis` under a registered symbol, so two copies of this package in one process share
 * one count.
 */
interface Counter {
  readonly version: 1;
  readonly sab: SharedArrayBuffer;
  /** Which cells a worker holds (the main thread's to change). */
  readonly taken: Uint8Array;
}

const CELLS = 4096;
const KEY = Symbol.for('agentos.wasm-memories');

function counter(): Counter {
  const g = globalThis as { [KEY]?: Counter };
  g[KEY] ??= { version: 1, sab: new SharedArrayBuffer(CELLS * 4), taken: new Uint8Array(CELLS) };
  return g[KEY];
}

/** The count's buffer, for the workers (base/address-space.ts's cells). */
export function memoryCounter(): SharedArrayBuffer {
  return counter().sab;
}

/** A cell for a new worker (its count starts at 0). */
export function claimCell(): number {
  const { sab, taken } = counter();
  const cells = new Int32Array(sab);
  for (let i = 1; i < CELLS; i++) {
    if (taken[i]) continue;
    taken[i] = 1;
    Atomics.store(cells, i, 0);
    if (Atomics.load(cells, 0) < i + 1) Atomics.store(cells, 0, i + 1);
    return i;
  }
  throw new Error(`more than ${CELLS - 1} kernel workers in one process`);
}

/** The worker holding `cell` is gone: its memories went with its heap. */
export function releaseCell(cell: number): void {
  const { sab, taken } = counter();
  Atomics.store(new Int32Array(sab), cell, 0);
  taken[cell] = 0;
}

/** Memories alive (and reserved) across the process, from the cells. */
export function memoriesAlive(cells: Int32Array): number {
  let n = 0;
  const top = Atomics.load(cells, 0);
  for (let i = 1; i < top; i++) n += Atomics.load(cells, i);
  return n;
}
