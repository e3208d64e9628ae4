/**
 * The instruction sequences the fuel pass inserts into a function, encoded: charging a run to the
 * function's pending local, flushing that local into the global counter, checking the counter,
 * and charging a bulk operation's size. Ending is a trap: `out_of_fuel` returns nonzero when the
 * invocation must end and the module runs `unreachable`, which no handler of its own can catch
 * (a throw from the import could be caught by a `catch_all`).
 *
 * @example
 * const c = new Charges(fuelGlobal, outOfFuel, pendingLocal);
 * c.check(); // global.get fuel; i64.const 0; i64.lt_s; if; call out_of_fuel; if; unreachable; end; end
 */
import { s64, u32 } from './wasm-bytes.js';

const CAP = s64(1n << 62n);
const I64 = 0x7e;

export class Charges {
  private readonly F: number[];
  private readonly P: number[];
  /** `if (fuel < 0) { if (out_of_fuel()) unreachable }` */
  readonly check: readonly number[];

  constructor(fuel: number, outOfFuel: number, pending: number) {
    this.F = u32(fuel);
    this.P = u32(pending);
    this.check = [0x23, ...this.F, 0x42, 0x00, 0x53, 0x04, 0x40, ...Charges.call(outOfFuel), 0x0b];
  }

  /** `if (f(...)) unreachable`: a call to one of the meter's imports. */
  static call(f: number): number[] {
    return [0x10, ...u32(f), 0x04, 0x40, 0x00, 0x0b];
  }

  /** `pending += cost` */
  charge(cost: number): number[] {
    return [0x20, ...this.P, 0x42, ...s64(BigInt(cost)), 0x7c, 0x21, ...this.P];
  }

  /** `fuel -= pending + cost; pending = 0` */
  flush(cost = 0): number[] {
    const { F, P } = this;
    const add = cost ? [0x42, ...s64(BigInt(cost)), 0x7c] : [];
    return [0x23, ...F, 0x20, ...P, ...add, 0x7d, 0x24, ...F, 0x42, 0x00, 0x21, ...P];
  }

  /** A function entry: `fuel -= cost`, then the check (nothing is pending yet). */
  entry(cost: number): number[] {
    return [0x23, ...this.F, 0x42, ...s64(BigInt(cost)), 0x7d, 0x24, ...this.F, ...this.check];
  }

  /**
   * A bulk operation's size, on top of the stack in local `t` of `type`, charged to the global
   * and checked, then put back: `t = size; fuel -= t; check; t`. A memory64 size is charged at
   * most 2^62, so the counter cannot wrap around.
   */
  sized(t: number, type: number): number[] {
    const T = u32(t);
    const n =
      type === I64 ? [0x20, ...T, 0x42, ...CAP, 0x20, ...T, 0x42, ...CAP, 0x58, 0x1b] : [0x20, ...T, 0xad];
    return [0x21, ...T, 0x23, ...this.F, ...n, 0x7d, 0x24, ...this.F, ...this.check, 0x20, ...T];
  }
}
