import { describe, expect, it } from 'vitest';
import { CodecOverflow, decodeValue, encodeToBytes, encodeValue } from './codec.js';

const roundTrip = (v: unknown): unknown => decodeValue(encodeToBytes(v));

describe('value codec', () => {
  it('round-trips every value jco lifts, keeping their JS types', () => {
    const values: unknown[] = [
      undefined,
      null,
      true,
      false,
      0,
      -1,
      2147483647,
      -2147483648,
      2 ** 40,
      1.5,
      Number.NaN,
      -0,
      0n,
      18446744073709551615n,
      -9223372036854775808n,
      '',
      'héllo ✓ 𝄞',
      new Uint8Array([0, 1, 255]),
      new Float32Array([1.5, -2.25]),
      [1, 'two', [3n]],
      { tag: 'invalid', val: 'x' },
      { nested: { list: [undefined, null], n: 7 } },
    ];
    for (const v of values) expect(roundTrip(v)).toStrictEqual(v);
  });

  it('round-trips every typed array jco uses for lists of numbers', () => {
    const arrays = [
      new Int8Array([-1, 2]),
      new Uint16Array([65535]),
      new Int16Array([-3]),
      new Uint32Array([4294967295, 7]),
      new Int32Array([-5]),
      new Float64Array([0.1]),
      new BigUint64Array([2n ** 64n - 1n]),
      new BigInt64Array([-(2n ** 63n)]),
    ];
    for (const a of arrays) {
      const back = roundTrip(a);
      expect(back).toBeInstanceOf(a.constructor);
      expect(back).toStrictEqual(a);
    }
  });

  it('refuses bigints beyond 64 bits, and keeps a __proto__ key a plain property', () => {
    expect(() => encodeToBytes(2n ** 64n)).toThrow(/does not fit in 64 bits/);
    expect(() => encodeToBytes(-(2n ** 63n) - 1n)).toThrow(/does not fit in 64 bits/);
    const tricky = JSON.parse('{"__proto__": {"polluted": true}}') as Record<string, unknown>;
    const back = roundTrip(tricky) as Record<string, unknown>;
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
    expect(Object.keys(back)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('keeps -0 and 2^40 as numbers, not truncated ints', () => {
    expect(Object.is(roundTrip(-0), -0)).toBe(true);
    expect(roundTrip(2 ** 40)).toBe(2 ** 40);
  });

  it('writes at an offset and reports the end', () => {
    const buf = new Uint8Array(64);
    const end = encodeValue('abc', buf, 10);
    expect(end).toBe(10 + 1 + 4 + 3);
    expect(decodeValue(buf.slice(10, end))).toBe('abc');
  });

  it('throws CodecOverflow when the value does not fit', () => {
    expect(() => encodeValue('x'.repeat(100), new Uint8Array(32))).toThrow(CodecOverflow);
    expect(() => encodeValue(new Uint8Array(100), new Uint8Array(32))).toThrow(CodecOverflow);
    expect(() => encodeValue('é'.repeat(20), new Uint8Array(30))).toThrow(CodecOverflow);
  });

  it('refuses values it cannot carry', () => {
    expect(() => encodeToBytes(() => 1)).toThrow(/cannot encode a function/);
    expect(() => encodeToBytes(Symbol('s'))).toThrow(/cannot encode a symbol/);
  });

  it('rejects corrupt input with a clear error', () => {
    expect(() => decodeValue(new Uint8Array([99]))).toThrow(/bad value tag 99/);
    const ok = encodeToBytes('abc');
    expect(() => decodeValue(new Uint8Array([...ok, 0]))).toThrow(/trailing bytes/);
  });

  it('refuses every truncation of a value, never reading past its end', () => {
    const value = {
      s: 'héllo wörld',
      short: 'ab',
      n: 2 ** 40,
      i: -7,
      u: 2n ** 63n,
      b: new Uint8Array([1, 2, 3]),
    };
    const bytes = encodeToBytes(value);
    expect(decodeValue(bytes)).toEqual(value);
    for (let end = 0; end < bytes.length; end++)
      expect(() => decodeValue(bytes.slice(0, end)), `truncated at ${end}`).toThrow(RangeError);
  });

  it('keeps a leading byte-order mark, short or long', () => {
    for (const s of ['\uFEFFabc', `\uFEFF${'é'.repeat(100)}`]) expect(roundTrip(s)).toBe(s);
  });
});
