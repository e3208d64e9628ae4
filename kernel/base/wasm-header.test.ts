import { describe, expect, it } from 'vitest';
import { readU32 } from './wasm-header.js';

describe('readU32', () => {
  it('reads LEB128 up to five bytes, and refuses a fifth byte that goes past 32 bits', () => {
    expect(readU32(Uint8Array.of(0x05), 0)).toEqual([5, 1]);
    expect(readU32(Uint8Array.of(0xe5, 0x8e, 0x26), 0)).toEqual([624485, 3]);
    expect(readU32(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0x0f), 0)).toEqual([0xffffffff, 5]);
    // Bits 32 and up, or a continuation on the fifth byte: not a u32.
    expect(readU32(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0x1f), 0)).toBeNull();
    expect(readU32(Uint8Array.of(0x80, 0x80, 0x80, 0x80, 0x80, 0x00), 0)).toBeNull();
    expect(readU32(Uint8Array.of(0x80, 0x80), 0)).toBeNull(); // runs out
  });
});
