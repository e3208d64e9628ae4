/**
 * What the fuel pass needs to know of a core module before it rewrites it: its sections, where
 * each is, the function types (parameter counts and result types), and the index spaces the pass
 * appends to (imported and defined functions, tables, memories, globals).
 *
 * @example
 * const layout = readLayout(bytes, 'core.wasm');
 * layout.importedFunctions; // functions at or above this index move up when the pass imports more
 */
import { AgentOSError } from '../base/errors.js';
import { Reader } from './wasm-bytes.js';

export interface SectionAt {
  id: number;
  /** The section's first byte (its id) and the end of its payload. */
  start: number;
  payload: number;
  end: number;
}

export interface FuncType {
  params: number;
  /** The result types, encoded as they are in the module. */
  results: Uint8Array;
  resultCount: number;
}

export interface Layout {
  sections: SectionAt[];
  /** Per type index: the function type, or null for a struct or array type. */
  types: (FuncType | null)[];
  importedFunctions: number;
  /** The type index of each defined function. */
  functionTypes: number[];
  tables: { imported: boolean; is64: boolean }[];
  memories: { imported: boolean; is64: boolean }[];
  globals: { imported: boolean; mutable: boolean }[];
}

/** Reads the section list and the index spaces of a validated core module. */
export function readLayout(bytes: Uint8Array, what: string): Layout {
  const r = new Reader(bytes, 8, bytes.length, what);
  const layout: Layout = {
    sections: [],
    types: [],
    importedFunctions: 0,
    functionTypes: [],
    tables: [],
    memories: [],
    globals: [],
  };
  while (!r.done) {
    const start = r.pos;
    const id = r.u8();
    const size = r.u32();
    const payload = r.pos;
    r.skip(size);
    layout.sections.push({ id, start, payload, end: r.pos });
    const s = new Reader(bytes, payload, r.pos, what);
    if (id === 1) readTypes(s, layout.types);
    else if (id === 2) readImports(s, layout);
    else if (id === 3) for (let n = s.u32(), i = 0; i < n; i++) layout.functionTypes.push(s.u32());
    else if (id === 4) readTables(s, layout);
    else if (id === 5)
      for (let n = s.u32(), i = 0; i < n; i++) layout.memories.push({ imported: false, ...s.limits() });
    else if (id === 6) readGlobals(s, layout);
  }
  return layout;
}

function readTypes(r: Reader, types: (FuncType | null)[]): void {
  const n = r.u32();
  for (let i = 0; i < n; i++) {
    if (r.peek() === 0x4e) {
      r.pos++;
      for (let k = r.u32(), j = 0; j < k; j++) types.push(subType(r));
    } else types.push(subType(r));
  }
}

function subType(r: Reader): FuncType | null {
  const b = r.u8();
  let kind = b;
  if (b === 0x50 || b === 0x4f) {
    for (let n = r.u32(), i = 0; i < n; i++) r.u32(); // supertypes
    kind = r.u8();
  }
  if (kind === 0x60) {
    const params = r.u32();
    for (let i = 0; i < params; i++) r.valType();
    const resultCount = r.u32();
    const at = r.pos;
    for (let i = 0; i < resultCount; i++) r.valType();
    return { params, results: r.bytes.subarray(at, r.pos), resultCount };
  }
  if (kind === 0x5f) for (let n = r.u32(), i = 0; i < n; i++) fieldType(r);
  else if (kind === 0x5e) fieldType(r);
  else throw r.fail(`a type of kind 0x${kind.toString(16)}`);
  return null;
}

function fieldType(r: Reader): void {
  const b = r.peek();
  if (b === 0x78 || b === 0x77)
    r.pos++; // packed i8, i16
  else r.valType();
  r.u8(); // mutability
}

function readImports(r: Reader, layout: Layout): void {
  const n = r.u32();
  for (let i = 0; i < n; i++) {
    r.name();
    r.name();
    const kind = r.u8();
    if (kind === 0x00) {
      r.u32();
      layout.importedFunctions++;
    } else if (kind === 0x01) {
      r.valType();
      layout.tables.push({ imported: true, ...r.limits() });
    } else if (kind === 0x02) layout.memories.push({ imported: true, ...r.limits() });
    else if (kind === 0x03) {
      r.valType();
      layout.globals.push({ imported: true, mutable: r.u8() === 1 });
    } else if (kind === 0x04) {
      r.u8();
      r.u32();
    } else throw r.fail(`an import of kind 0x${kind.toString(16)}`);
  }
}

function readTables(r: Reader, layout: Layout): void {
  const n = r.u32();
  for (let i = 0; i < n; i++) {
    const init = r.peek() === 0x40;
    if (init) r.skip(2);
    r.valType();
    layout.tables.push({ imported: false, ...r.limits() });
    if (init) skipConst(r);
  }
}

function readGlobals(r: Reader, layout: Layout): void {
  const n = r.u32();
  for (let i = 0; i < n; i++) {
    r.valType();
    layout.globals.push({ imported: false, mutable: r.u8() === 1 });
    skipConst(r);
  }
}

/**
 * Steps over a constant expression, calling `onFunc` at each `ref.func` with the position of its
 * opcode and its index (the pass moves function indices).
 */
export function skipConst(r: Reader, onFunc?: (at: number, index: number) => void): void {
  for (;;) {
    const at = r.pos;
    const op = r.u8();
    if (op === 0x0b) return;
    if (op === 0xd2) {
      const f = r.u32();
      onFunc?.(at, f);
    } else if (op === 0x41 || op === 0x42) r.skipLeb();
    else if (op === 0x43) r.skip(4);
    else if (op === 0x44) r.skip(8);
    else if (op === 0x23) r.u32();
    else if (op === 0xd0) r.s33();
    else if (op === 0x6a || op === 0x6b || op === 0x6c || op === 0x7c || op === 0x7d || op === 0x7e) {
      // extended-const add, sub, mul
    } else if (op === 0xfd && r.u32() === 12) r.skip(16);
    else if (op === 0xfb) {
      // struct.new and array.new_fixed (their size is in the module); not array.new, whose
      // length is a value: it would allocate at instantiation without a charge.
      const sub = r.u32();
      if (sub <= 1) r.u32();
      else if (sub === 8) {
        r.u32();
        r.u32();
      } else if (sub < 26 || sub > 28)
        throw new AgentOSError(
          'AOS_E_FUEL_UNSUPPORTED',
          `${r.what}: the fuel pass cannot meter GC opcode 0xfb ${sub} in a constant expression`,
          { expression: `0xfb ${sub}`, offset: r.pos },
        );
    } else throw r.fail(`opcode 0x${op.toString(16)} in a constant expression`);
  }
}
