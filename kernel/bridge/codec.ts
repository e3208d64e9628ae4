/**
 * The value codec for hostcall arguments and results. It carries exactly the JS values jco's
 * glue lifts from WIT — strings, numbers, bigints (u64/s64), booleans, `undefined` (option none),
 * `Uint8Array` (list<u8>), `Float32Array` (list<f32>), arrays, records and variants — and
 * decodes them back to the same types, so a journaled result is recorded byte for byte, for a
 * replay (to come) to answer with.
 *
 * It writes straight into the hostcall channel's shared buffer (no intermediate copy).
 *
 * @example
 * const buf = new Uint8Array(1024);
 * const end = encodeValue(['key', 7n], buf, 0);
 * decodeValue(buf.subarray(0, end)); // ['key', 7n]
 */

const T_UNDEFINED = 0;
const T_NULL = 1;
const T_FALSE = 2;
const T_TRUE = 3;
const T_F64 = 4;
const T_U64 = 5;
const T_I64 = 6;
const T_STRING = 7;
const T_BYTES = 8;
const T_ARRAY = 9;
const T_OBJECT = 10;
const T_TYPED = 11;
const T_I32 = 12;

/** Typed arrays jco lifts `list<number type>` into, by the byte that names them in the encoding. */
const TYPED = [
  Uint8Array,
  Int8Array,
  Uint16Array,
  Int16Array,
  Uint32Array,
  Int32Array,
  Float32Array,
  Float64Array,
  BigUint64Array,
  BigInt64Array,
] as const;
type Typed = InstanceType<(typeof TYPED)[number]>;

const U64_MAX = (1n << 64n) - 1n;
const I64_MIN = -(1n << 63n);

/** Thrown when a value does not fit the buffer; the caller turns it into a clear error. */
export class CodecOverflow extends Error {
  override readonly name = 'CodecOverflow';
}

const encoder = new TextEncoder();
// ignoreBOM: a string that starts with U+FEFF keeps it.
const decoder = new TextDecoder('utf-8', { ignoreBOM: true });
/** Strings up to this many characters take the hand-written ASCII path both ways. */
const SHORT = 64;

/** DataViews of the buffers written most (the scratch, the channels): one each, not one per value. */
const views = new WeakMap<Uint8Array, DataView>();
function viewOf(buf: Uint8Array): DataView {
  let v = views.get(buf);
  if (!v) {
    v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    views.set(buf, v);
  }
  return v;
}

class Writer {
  pos: number;
  readonly view: DataView;
  constructor(
    readonly buf: Uint8Array,
    start: number,
  ) {
    this.pos = start;
    this.view = viewOf(buf);
  }
  room(n: number): void {
    if (this.pos + n > this.buf.length)
      throw new CodecOverflow(`value needs more than ${this.buf.length} bytes`);
  }
  u8(v: number): void {
    this.room(1);
    this.buf[this.pos++] = v;
  }
  u32(v: number): void {
    this.room(4);
    this.view.setUint32(this.pos, v, true);
    this.pos += 4;
  }
  string(s: string): void {
    this.room(4 + s.length);
    const at = this.pos + 4;
    // Short ASCII strings (keys, ids, kinds) are copied by hand: encodeInto costs more to call.
    if (s.length <= SHORT) {
      const buf = this.buf;
      let i = 0;
      for (; i < s.length; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        buf[at + i] = c;
      }
      if (i === s.length) {
        this.view.setUint32(this.pos, i, true);
        this.pos = at + i;
        return;
      }
    }
    // encodeInto stops at the end of the buffer; a string that did not fit is an overflow.
    const { read, written } = encoder.encodeInto(s, this.buf.subarray(at));
    if (read !== s.length) throw new CodecOverflow(`string of ${s.length} chars does not fit`);
    this.view.setUint32(this.pos, written, true);
    this.pos = at + written;
  }
  bytes(b: Uint8Array): void {
    this.u32(b.length);
    this.room(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
}

function write(w: Writer, v: unknown): void {
  switch (typeof v) {
    case 'undefined':
      w.u8(T_UNDEFINED);
      return;
    case 'boolean':
      w.u8(v ? T_TRUE : T_FALSE);
      return;
    case 'number':
      if (Number.isInteger(v) && v >= -0x80000000 && v <= 0x7fffffff && !Object.is(v, -0)) {
        w.u8(T_I32);
        w.room(4);
        w.view.setInt32(w.pos, v, true);
        w.pos += 4;
        return;
      }
      w.u8(T_F64);
      w.room(8);
      w.view.setFloat64(w.pos, v, true);
      w.pos += 8;
      return;
    case 'bigint':
      if (v > U64_MAX || v < I64_MIN) throw new RangeError(`bigint ${v} does not fit in 64 bits`);
      w.u8(v >= 0n ? T_U64 : T_I64);
      w.room(8);
      if (v >= 0n) w.view.setBigUint64(w.pos, v, true);
      else w.view.setBigInt64(w.pos, v, true);
      w.pos += 8;
      return;
    case 'string':
      w.u8(T_STRING);
      w.string(v);
      return;
    case 'object': {
      if (v === null) {
        w.u8(T_NULL);
        return;
      }
      if (v instanceof Uint8Array && v.constructor === Uint8Array) {
        w.u8(T_BYTES);
        w.bytes(v);
        return;
      }
      if (ArrayBuffer.isView(v)) {
        const kind = TYPED.findIndex((T) => v instanceof T);
        if (kind === -1) throw new TypeError(`cannot encode a ${v.constructor.name}`);
        w.u8(T_TYPED);
        w.u8(kind);
        w.bytes(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
        return;
      }
      if (Array.isArray(v)) {
        w.u8(T_ARRAY);
        w.u32(v.length);
        for (const item of v) write(w, item);
        return;
      }
      const keys = Object.keys(v);
      w.u8(T_OBJECT);
      w.u32(keys.length);
      for (const k of keys) {
        w.string(k);
        write(w, (v as Record<string, unknown>)[k]);
      }
      return;
    }
    default:
      throw new TypeError(`cannot encode a ${typeof v}`);
  }
}

/** Encodes `value` into `buf` from `start`; returns the end offset. Throws CodecOverflow. */
export function encodeValue(value: unknown, buf: Uint8Array, start = 0): number {
  const w = new Writer(buf, start);
  write(w, value);
  return w.pos;
}

/** Reused for encodeToBytes, so encoding a small value allocates only its result. */
let scratch = new Uint8Array(64 << 10);

/** Encodes into a fresh buffer of exactly the value's size (for the journal and mailboxes). */
export function encodeToBytes(value: unknown, limit = 64 << 20): Uint8Array {
  for (;;) {
    try {
      return scratch.slice(0, encodeValue(value, scratch, 0));
    } catch (e) {
      if (!(e instanceof CodecOverflow) || scratch.length >= limit) throw e;
      scratch = new Uint8Array(scratch.length * 4);
    }
  }
}

/** Eight bytes to read a float or a 64-bit integer through (little-endian, as the encoding). */
const word = new Uint8Array(8);
const wordView = new DataView(word.buffer);

class Reader {
  pos = 0;
  // Bytes by hand, not a DataView per decode: most values decoded are small and short-lived.
  constructor(readonly buf: Uint8Array) {}
  /** Fails on a truncated value instead of reading past the end. */
  need(n: number): void {
    if (this.pos + n > this.buf.length) throw new RangeError(`truncated value at offset ${this.pos}`);
  }
  u32(): number {
    this.need(4);
    const { buf, pos } = this;
    this.pos = pos + 4;
    return (buf[pos]! | (buf[pos + 1]! << 8) | (buf[pos + 2]! << 16) | (buf[pos + 3]! << 24)) >>> 0;
  }
  i32(): number {
    return this.u32() | 0;
  }
  /** The next 8 bytes, in `wordView`. */
  word(): DataView {
    this.need(8);
    word.set(this.buf.subarray(this.pos, this.pos + 8));
    this.pos += 8;
    return wordView;
  }
  string(): string {
    const n = this.u32();
    this.need(n);
    const { buf, pos } = this;
    this.pos += n;
    if (n <= SHORT) {
      let s = '';
      for (let i = pos; i < pos + n; i++) {
        const c = buf[i]!;
        if (c >= 0x80) return decoder.decode(buf.subarray(pos, pos + n));
        s += String.fromCharCode(c);
      }
      return s;
    }
    return decoder.decode(buf.subarray(pos, pos + n));
  }
  bytes(): Uint8Array {
    const n = this.u32();
    this.need(n);
    // A plain Uint8Array copy, even when the input is a Buffer (as LMDB returns it).
    const b = new Uint8Array(this.buf.subarray(this.pos, this.pos + n));
    this.pos += n;
    return b;
  }
}

function read(r: Reader): unknown {
  const tag = r.buf[r.pos++];
  switch (tag) {
    case T_UNDEFINED:
      return undefined;
    case T_NULL:
      return null;
    case T_FALSE:
      return false;
    case T_TRUE:
      return true;
    case T_I32:
      return r.i32();
    case T_F64:
      return r.word().getFloat64(0, true);
    case T_U64:
      return r.word().getBigUint64(0, true);
    case T_I64:
      return r.word().getBigInt64(0, true);
    case T_STRING:
      return r.string();
    case T_BYTES:
      return r.bytes();
    case T_TYPED: {
      const T = TYPED[r.buf[r.pos++]!];
      if (!T) throw new RangeError(`bad typed-array kind at offset ${r.pos - 1}`);
      const b = r.bytes();
      // r.bytes() is a fresh copy starting at offset 0, so its buffer is aligned for any element size.
      return new T(b.buffer as ArrayBuffer, b.byteOffset, b.byteLength / T.BYTES_PER_ELEMENT) as Typed;
    }
    case T_ARRAY: {
      const n = r.u32();
      const out = new Array<unknown>(n);
      for (let i = 0; i < n; i++) out[i] = read(r);
      return out;
    }
    case T_OBJECT: {
      const n = r.u32();
      const out: Record<string, unknown> = {};
      for (let i = 0; i < n; i++) {
        const k = r.string();
        // defineProperty: a key named __proto__ stays a plain property.
        if (k === '__proto__')
          Object.defineProperty(out, k, {
            value: read(r),
            enumerable: true,
            writable: true,
            configurable: true,
          });
        else out[k] = read(r);
      }
      return out;
    }
    default:
      throw new RangeError(`bad value tag ${tag} at offset ${r.pos - 1}`);
  }
}

/** Decodes one value. `buf` must not be a view of shared memory (copy it first). */
export function decodeValue(buf: Uint8Array): unknown {
  const r = new Reader(buf);
  const v = read(r);
  if (r.pos !== buf.length) throw new RangeError(`${buf.length - r.pos} trailing bytes after the value`);
  return v;
}
