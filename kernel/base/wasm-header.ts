/**
 * A cheap first look at a WebAssembly binary: is it wasm at all, a core module or a component,
 * and does every top-level section fit in the file. This gives clear errors for the commonest bad
 * inputs (random bytes, a truncated download, a core module) before the full parser runs.
 */
import { AgentOSError } from './errors.js';

const MAGIC = [0x00, 0x61, 0x73, 0x6d];

export type WasmKind = 'component' | 'module';

export interface WasmHeader {
  kind: WasmKind;
  /** Top-level sections, in file order. */
  sections: number;
}

/** Reads a LEB128 u32 at `pos`; returns [value, nextPos] or null when the bytes run out. */
export function readU32(bytes: Uint8Array, pos: number): [number, number] | null {
  let result = 0;
  let shift = 0;
  for (let i = 0; i < 5; i++) {
    if (pos >= bytes.length) return null;
    const b = bytes[pos++]!;
    // The fifth byte carries the top 4 bits and ends the number: anything more is not a u32.
    if (i === 4 && (b & 0xf0) !== 0) return null;
    result |= (b & 0x7f) << shift;
    if ((b & 0x80) === 0) return [result >>> 0, pos];
    shift += 7;
  }
  return null;
}

/** LEB128 encoding of an unsigned 32-bit integer. */
export function encodeU32(n: number): number[] {
  const out: number[] = [];
  let v = n >>> 0;
  do {
    let b = v & 0x7f;
    v >>>= 7;
    if (v !== 0) b |= 0x80;
    out.push(b);
  } while (v !== 0);
  return out;
}

/**
 * Checks the preamble and walks the top-level sections.
 * @throws AgentOSError AOS_E_NOT_WASM, AOS_E_TRUNCATED or AOS_E_NOT_COMPONENT (when `expect` is 'component').
 */
export function readWasmHeader(bytes: Uint8Array, what: string, expect?: WasmKind): WasmHeader {
  if (bytes.length < 8 || MAGIC.some((m, i) => bytes[i] !== m)) {
    if (
      bytes.length >= 1 &&
      bytes.length < 8 &&
      MAGIC.slice(0, bytes.length).every((m, i) => bytes[i] === m)
    ) {
      throw new AgentOSError(
        'AOS_E_TRUNCATED',
        `${what} ends after ${bytes.length} bytes, inside the wasm header`,
      );
    }
    throw new AgentOSError('AOS_E_NOT_WASM', `${what} is not WebAssembly (it does not start with \\0asm)`, {
      size: bytes.length,
    });
  }
  const version = bytes[4]! | (bytes[5]! << 8);
  const layer = bytes[6]! | (bytes[7]! << 8);
  let kind: WasmKind;
  if (layer === 0 && version === 1) kind = 'module';
  else if (layer === 1) kind = 'component';
  else {
    throw new AgentOSError(
      'AOS_E_MALFORMED_COMPONENT',
      `${what} has an unknown wasm version ${version} and layer ${layer}`,
    );
  }
  if (expect === 'component' && kind === 'module') {
    throw new AgentOSError(
      'AOS_E_NOT_COMPONENT',
      `${what} is a core WebAssembly module, not a component (wrap it with \`jco new\` or build it with \`agentos build\`)`,
    );
  }
  let pos = 8;
  let sections = 0;
  while (pos < bytes.length) {
    const id = bytes[pos]!;
    const size = readU32(bytes, pos + 1);
    if (size === null) {
      throw new AgentOSError(
        'AOS_E_TRUNCATED',
        `${what} ends inside the header of section ${sections} (id ${id})`,
        {
          offset: pos,
        },
      );
    }
    const [len, body] = size;
    if (body + len > bytes.length) {
      throw new AgentOSError(
        'AOS_E_TRUNCATED',
        `${what} is truncated: section ${sections} (id ${id}) needs ${len} bytes at offset ${body}, but only ${
          bytes.length - body
        } remain`,
        { offset: body, needed: len, size: bytes.length },
      );
    }
    pos = body + len;
    sections++;
  }
  return { kind, sections };
}
