import { describe, expect, it } from 'vitest';
import { extendedConst } from './wasm-features.js';

describe('wasm features the kernel enables', () => {
  it('compiles an extended-const global initialiser (QuickJS core modules use them)', async () => {
    expect(extendedConst()).toBe(true);
    // (module (global (export "g") i32 (i32.add (i32.const 40) (i32.const 2))))
    const bytes = new Uint8Array([
      0, 97, 115, 109, 1, 0, 0, 0, 6, 9, 1, 0x7f, 0, 0x41, 40, 0x41, 2, 0x6a, 0x0b, 7, 5, 1, 1, 0x67, 3, 0,
    ]);
    const instance = new WebAssembly.Instance(await WebAssembly.compile(bytes), {});
    expect((instance.exports.g as WebAssembly.Global).value).toBe(42);
  });
});
