/**
 * The immediates of every instruction the fuel pass accepts, so it can step over them without
 * decoding them: core wasm 2.0, sign extension, saturating truncation, bulk memory, reference
 * types, SIMD and relaxed SIMD, threads (but not `memory.atomic.wait`), tail calls, typed function
 * references, exception handling (legacy and exnref), and the i31/cast subset of GC. Anything
 * else (struct and array instructions, whose `array.fill` and `array.copy` would need charging
 * by size, or an opcode a later proposal adds) is refused with AOS_E_FUEL_UNSUPPORTED naming it.
 *
 * The control instructions, calls, `ref.func`, `memory.grow` and the bulk operations are the
 * body rewriter's (meter-body.ts): it reads their immediates itself.
 *
 * @example
 * skipPlain(r, 0x28); // i32.load: steps over its memarg
 */
import { AgentOSError } from '../base/errors.js';
import type { Reader } from './wasm-bytes.js';

/** AOS_E_FUEL_UNSUPPORTED for an instruction the pass cannot meter. */
export function cannotMeter(r: Reader, expression: string, why = ''): AgentOSError {
  return new AgentOSError(
    'AOS_E_FUEL_UNSUPPORTED',
    `${r.what}: the fuel pass cannot meter ${expression}${why ? `: ${why}` : ''}`,
    { expression, offset: r.pos },
  );
}

/** A memory access's alignment (with the memory index when bit 6 is set) and offset. */
export function memarg(r: Reader): void {
  const align = r.u32();
  if (align & 0x40) r.u32();
  r.skipLeb();
}

/** Steps over the immediates of a one-byte, non-control opcode; refuses one it does not know. */
export function skipPlain(r: Reader, op: number): void {
  if (op >= 0x45 && op <= 0xc4) return; // numeric, no immediates
  if (op >= 0x28 && op <= 0x3e) {
    memarg(r);
    return;
  }
  if (op >= 0x20 && op <= 0x26) {
    r.u32(); // local, global or table index
    return;
  }
  switch (op) {
    case 0x00: // unreachable
    case 0x01: // nop
    case 0x1a: // drop
    case 0x1b: // select
    case 0xd1: // ref.is_null
    case 0xd3: // ref.eq
    case 0xd4: // ref.as_non_null
      return;
    case 0x1c: {
      // select with types
      const n = r.u32();
      for (let i = 0; i < n; i++) r.valType();
      return;
    }
    case 0x3f: // memory.size
      r.u32();
      return;
    case 0x41: // i32.const
    case 0x42: // i64.const
      r.skipLeb();
      return;
    case 0x43: // f32.const
      r.skip(4);
      return;
    case 0x44: // f64.const
      r.skip(8);
      return;
    case 0xd0: // ref.null
      r.s33();
      return;
  }
  throw cannotMeter(r, `opcode 0x${op.toString(16).padStart(2, '0')}`);
}

/** Steps over a SIMD instruction (0xfd prefix) after its sub-opcode `sub`. */
export function skipSimd(r: Reader, sub: number): void {
  if (sub <= 11 || sub === 92 || sub === 93) {
    memarg(r);
    return;
  }
  if (sub === 12 || sub === 13) {
    r.skip(16); // v128.const, i8x16.shuffle
    return;
  }
  if (sub >= 21 && sub <= 34) {
    r.skip(1); // extract and replace lane
    return;
  }
  if (sub >= 84 && sub <= 91) {
    memarg(r); // load and store lane
    r.skip(1);
    return;
  }
  if (sub <= 0x113) return;
  throw cannotMeter(r, `SIMD opcode 0xfd ${sub}`);
}

/** Steps over an atomic instruction (0xfe prefix); refuses `memory.atomic.wait`. */
export function skipAtomic(r: Reader, sub: number): void {
  if (sub === 1 || sub === 2) {
    // It blocks its thread without using fuel (an infinite timeout: for good), and an agent has
    // no other thread to wake it: no budget or tick could end it.
    throw cannotMeter(
      r,
      'AtomicWait',
      'memory.atomic.wait blocks without using fuel, and nothing could wake it; it cannot run metered',
    );
  }
  if (sub === 3) {
    r.skip(1); // atomic.fence
    return;
  }
  if (sub === 0 || (sub >= 0x10 && sub <= 0x4e)) {
    memarg(r);
    return;
  }
  throw cannotMeter(r, `atomic opcode 0xfe ${sub}`);
}

/** The bulk operations (0xfc prefix) charged by their size, and what their size operand is. */
export const BULK: ReadonlyMap<number, { name: string; size: 'memory' | 'i32' }> = new Map([
  [8, { name: 'MemoryInit', size: 'i32' }],
  [10, { name: 'MemoryCopy', size: 'memory' }],
  [11, { name: 'MemoryFill', size: 'memory' }],
  [12, { name: 'TableInit', size: 'i32' }],
  [14, { name: 'TableCopy', size: 'i32' }],
  [15, { name: 'TableGrow', size: 'i32' }],
  [17, { name: 'TableFill', size: 'i32' }],
]);

/** Steps over the immediates of a 0xfc instruction. */
export function skipMisc(r: Reader, sub: number): void {
  if (sub <= 7) return; // saturating truncation
  switch (sub) {
    case 8: // memory.init data memory
    case 10: // memory.copy memory memory
    case 12: // table.init elem table
    case 14: // table.copy table table
      r.u32();
      r.u32();
      return;
    case 9: // data.drop
    case 11: // memory.fill
    case 13: // elem.drop
    case 15: // table.grow
    case 16: // table.size
    case 17: // table.fill
      r.u32();
      return;
  }
  throw cannotMeter(r, `opcode 0xfc ${sub}`);
}

/**
 * Steps over a GC instruction (0xfb prefix) other than `br_on_cast`: the casts and i31 only.
 * Struct and array instructions are refused: `array.fill`, `array.copy` and `array.new` take
 * time by their size, and the pass does not charge them.
 */
export function skipGc(r: Reader, sub: number): void {
  if (sub >= 20 && sub <= 23) {
    r.s33(); // ref.test, ref.cast: heap type
    return;
  }
  if (sub >= 26 && sub <= 30) return; // conversions and i31
  throw cannotMeter(r, `GC opcode 0xfb ${sub}`, 'struct and array instructions are not metered');
}
