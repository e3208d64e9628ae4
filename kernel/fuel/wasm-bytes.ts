/**
 * Reading and writing the WebAssembly binary format for the fuel pass: a cursor over the bytes
 * (LEB128 numbers, names, value and block types) and the encoders for what the pass adds. The
 * pass reads modules V8 has already validated, so a read past the end means a bug or a format
 * this reader does not know: it throws AOS_E_FUEL_UNSUPPORTED, never reads out of bounds.
 *
 * @example
 * const r = new Reader(bytes, 8, bytes.length, 'core.wasm');
 * const id = r.u8(); const size = r.u32();
 */
import { AgentOSError } from '../base/errors.js';
import { encodeU32 } from '../base/wasm-header.js';

export class Reader {
  constructor(
    readonly bytes: Uint8Array,
    public pos: number,
    readonly end: number,
    readonly what: string,
  ) {}

  /** AOS_E_FUEL_UNSUPPORTED naming where the module could not be read. */
  fail(why: string, details: Record<string, unknown> = {}): AgentOSError {
    return new AgentOSError('AOS_E_FUEL_UNSUPPORTED', `${this.what}: the fuel pass cannot read it: ${why}`, {
      offset: this.pos,
      ...details,
    });
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  u8(): number {
    if (this.pos >= this.end) throw this.fail('it ends early');
    return this.bytes[this.pos++]!;
  }

  peek(): number {
    if (this.pos >= this.end) throw this.fail('it ends early');
    return this.bytes[this.pos]!;
  }

  /** An unsigned LEB128 of up to 32 bits. */
  u32(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = this.u8();
      if (shift === 28) {
        if ((b & 0xf0) !== 0) throw this.fail('a u32 runs past 32 bits');
        return (result | (b << 28)) >>> 0;
      }
      result |= (b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result >>> 0;
      shift += 7;
    }
  }

  /** Skips a LEB128 of any width (s33, s64, u64). */
  skipLeb(): void {
    for (let i = 0; i < 10; i++) if ((this.u8() & 0x80) === 0) return;
    throw this.fail('a number runs past 64 bits');
  }

  /** A signed LEB128 of up to 33 bits (block types, heap types), as a number. */
  s33(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 5; i++) {
      const b = this.u8();
      result += (b & 0x7f) * mul;
      mul *= 128;
      if ((b & 0x80) === 0) return b & 0x40 ? result - mul : result;
    }
    throw this.fail('a type index runs past 33 bits');
  }

  skip(n: number): void {
    if (this.pos + n > this.end) throw this.fail('it ends early');
    this.pos += n;
  }

  name(): string {
    const n = this.u32();
    const at = this.pos;
    this.skip(n);
    return Buffer.from(this.bytes.buffer, this.bytes.byteOffset + at, n).toString('utf8');
  }

  /** A value type: one byte, or a reference type's prefix and its heap type. */
  valType(): void {
    const b = this.u8();
    if (b === 0x63 || b === 0x64) this.s33();
  }

  /** A block type: empty, a value type or a type index. Returns the index, or -1. */
  blockType(): number {
    const b = this.peek();
    if (b === 0x63 || b === 0x64) {
      this.pos++;
      this.s33();
      return -1;
    }
    const v = this.s33();
    return v >= 0 ? v : -1;
  }

  /** Limits: flags, then min and (when flagged) max, u64 when the 64-bit flag is set. */
  limits(): { is64: boolean; shared: boolean } {
    const flags = this.u8();
    if (flags > 7) throw this.fail(`limits flags 0x${flags.toString(16)}`);
    this.skipLeb();
    if (flags & 1) this.skipLeb();
    return { is64: (flags & 4) !== 0, shared: (flags & 2) !== 0 };
  }
}

/** An unsigned LEB128 (base/wasm-header.ts). */
export const u32 = encodeU32;

/** A signed LEB128 of a 64-bit value. */
export function s64(n: bigint): number[] {
  const out: number[] = [];
  let v = BigInt.asIntN(64, n);
  for (;;) {
    const b = Number(v & 0x7fn);
    v >>= 7n;
    if ((v === 0n && (b & 0x40) === 0) || (v === -1n && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

/** A name: its UTF-8 length, then the bytes. */
export function name(s: string): number[] {
  const b = Buffer.from(s, 'utf8');
  return [...u32(b.length), ...b];
}

/** Concatenates byte runs into one array. */
export function concat(parts: readonly (Uint8Array | readonly number[])[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A section: its id, its size, its payload. */
export function section(id: number, payload: Uint8Array): Uint8Array {
  return concat([[id], u32(payload.length), payload]);
}

/** A vector: its count, then its items' bytes. */
export function vec(count: number, items: readonly (Uint8Array | readonly number[])[]): Uint8Array {
  return concat([u32(count), ...items]);
}
