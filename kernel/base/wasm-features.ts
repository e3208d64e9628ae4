/**
 * The wasm features the kernel needs V8 to accept, enabled before anything compiles. QuickJS
 * components (componentize-qjs) use extended-const (`i32.add` in a global's initializer), which
 * Node 20's V8 gates behind `--experimental-wasm-extended-const`; Deno and newer Node accept it.
 * Importing this module checks with a 9-byte probe and sets the flag only where it is missing.
 * The flag is process-wide, so it also holds for the worker threads started after it.
 *
 * @example
 * import './base/wasm-features.js';   // first, before any WebAssembly.compile
 * extendedConst();                    // true where it works
 */
import { setFlagsFromString } from 'node:v8';

/** `(module (global i32 (i32.add (i32.const 1) (i32.const 2))))` */
const PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 6, 9, 1, 0x7f, 0, 0x41, 1, 0x41, 2, 0x6a, 0x0b]);

let enabled = WebAssembly.validate(PROBE);
if (!enabled) {
  try {
    setFlagsFromString('--experimental-wasm-extended-const');
  } catch {
    // A runtime without V8 flags: the probe below says it is still missing.
  }
  enabled = WebAssembly.validate(PROBE);
}

/** Whether this process compiles extended-const modules (QuickJS components need it). */
export function extendedConst(): boolean {
  return enabled;
}
