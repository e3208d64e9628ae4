/**
 * The fuel pass's edits to the sections around the code: the pass imports functions, which
 * moves every defined function's index up, so each place that names a function (exports, the
 * start function, element segments, `ref.func` in constant expressions, the name section) is
 * rewritten; and it appends its own imports, globals and exports to theirs.
 *
 * Each function takes a section's payload and returns the new payload.
 *
 * @example
 * const exports = withExports(bytes, section, shift, [[FUEL.fuelGlobal, 3, fuelIndex]]);
 */
import { skipConst } from './module-layout.js';
import { concat, name, Reader, u32, vec } from './wasm-bytes.js';

/** Function indices at or above `from` move up by `by`. */
export interface Shift {
  from: number;
  by: number;
}

const moved = (f: number, s: Shift): number => (f >= s.from ? f + s.by : f);

/** A payload's items after its count, and the count. */
function items(
  bytes: Uint8Array,
  payload: number,
  end: number,
  what: string,
): { count: number; rest: Uint8Array } {
  const r = new Reader(bytes, payload, end, what);
  const count = r.u32();
  return { count, rest: bytes.subarray(r.pos, end) };
}

/** A vector section with `added` items appended (types, imports, functions). */
export function appended(
  bytes: Uint8Array | null,
  payload: number,
  end: number,
  what: string,
  added: readonly (readonly number[])[],
): Uint8Array {
  if (!bytes) return vec(added.length, added);
  const { count, rest } = items(bytes, payload, end, what);
  return vec(count + added.length, [rest, ...added]);
}

/** Copies a constant expression to `out`, each `ref.func` in it moved. */
function constExpr(r: Reader, s: Shift, out: (Uint8Array | number[])[]): void {
  let from = r.pos;
  skipConst(r, (at, f) => {
    out.push(r.bytes.subarray(from, at), [0xd2, ...u32(moved(f, s))]);
    from = r.pos;
  });
  out.push(r.bytes.subarray(from, r.pos));
}

/** The global section with `ref.func` moved and the pass's globals appended. */
export function withGlobals(
  bytes: Uint8Array | null,
  payload: number,
  end: number,
  what: string,
  s: Shift,
  added: readonly (readonly number[])[],
): Uint8Array {
  if (!bytes) return vec(added.length, added);
  const r = new Reader(bytes, payload, end, what);
  const n = r.u32();
  const out: (Uint8Array | number[])[] = [];
  for (let i = 0; i < n; i++) {
    const at = r.pos;
    r.valType();
    r.u8();
    out.push(bytes.subarray(at, r.pos));
    constExpr(r, s, out);
  }
  return vec(n + added.length, [...out, ...added]);
}

/** The table section with `ref.func` moved in table initializers. */
export function tables(bytes: Uint8Array, payload: number, end: number, what: string, s: Shift): Uint8Array {
  const r = new Reader(bytes, payload, end, what);
  const n = r.u32();
  const out: (Uint8Array | number[])[] = [];
  for (let i = 0; i < n; i++) {
    const at = r.pos;
    const init = r.peek() === 0x40;
    if (init) r.skip(2);
    r.valType();
    r.limits();
    out.push(bytes.subarray(at, r.pos));
    if (init) constExpr(r, s, out);
  }
  return vec(n, out);
}

/** The export section with function exports moved and `added` ([name, kind, index]) appended. */
export function withExports(
  bytes: Uint8Array | null,
  payload: number,
  end: number,
  what: string,
  s: Shift,
  added: readonly [string, number, number][],
): Uint8Array {
  const out: number[][] = [];
  let n = 0;
  if (bytes) {
    const r = new Reader(bytes, payload, end, what);
    n = r.u32();
    for (let i = 0; i < n; i++) {
      const nm = r.name();
      const kind = r.u8();
      const index = r.u32();
      out.push([...name(nm), kind, ...u32(kind === 0 ? moved(index, s) : index)]);
    }
  }
  for (const [nm, kind, index] of added) out.push([...name(nm), kind, ...u32(index)]);
  return vec(n + added.length, out);
}

/** The start section's function, moved. */
export function startFunction(
  bytes: Uint8Array,
  payload: number,
  end: number,
  what: string,
  s: Shift,
): number {
  return moved(new Reader(bytes, payload, end, what).u32(), s);
}

/** The element section with every function index moved. */
export function elements(
  bytes: Uint8Array,
  payload: number,
  end: number,
  what: string,
  s: Shift,
): Uint8Array {
  const r = new Reader(bytes, payload, end, what);
  const n = r.u32();
  const out: (Uint8Array | number[])[] = [];
  const copy = (f: () => void): void => {
    const at = r.pos;
    f();
    out.push(bytes.subarray(at, r.pos));
  };
  for (let i = 0; i < n; i++) {
    const flags = r.u32();
    if (flags > 7) throw r.fail(`an element segment with flags ${flags}`);
    out.push(u32(flags));
    if (flags === 2 || flags === 6) copy(() => r.u32()); // table index
    if ((flags & 1) === 0) constExpr(r, s, out); // active: offset
    if (flags & 4) {
      if (flags !== 4) copy(() => r.valType());
      const k = r.u32();
      out.push(u32(k));
      for (let j = 0; j < k; j++) constExpr(r, s, out);
    } else {
      if (flags !== 0) copy(() => r.u8()); // element kind
      const k = r.u32();
      const fs: number[] = [...u32(k)];
      for (let j = 0; j < k; j++) fs.push(...u32(moved(r.u32(), s)));
      out.push(fs);
    }
  }
  return vec(n, out);
}

/** What the name section says, and the section with its function indices moved. */
export interface Names {
  payload: Uint8Array;
  functions: string[];
  globals: string[];
}

/**
 * The name section (after its name) with function indices moved, and the function and global
 * names it gives. Null when it cannot be read: it is debugging information only, and V8 does not
 * check it, so the pass drops a damaged one rather than refuse the module.
 */
export function names(bytes: Uint8Array, at: number, end: number, what: string, s: Shift): Names | null {
  try {
    const r = new Reader(bytes, at, end, what);
    const out: (Uint8Array | number[])[] = [];
    const functions: string[] = [];
    const globals: string[] = [];
    while (!r.done) {
      const id = r.u8();
      const size = r.u32();
      const sub = new Reader(bytes, r.pos, r.pos + size, what);
      r.skip(size);
      if (id !== 1 && id !== 2 && id !== 3 && id !== 7) {
        out.push([id, ...u32(size)], bytes.subarray(sub.pos, sub.end));
        continue;
      }
      const body: (Uint8Array | number[])[] = [];
      const n = sub.u32();
      body.push(u32(n));
      for (let i = 0; i < n; i++) {
        const index = sub.u32();
        body.push(u32(id === 7 ? index : moved(index, s)));
        const from = sub.pos;
        if (id === 1 || id === 7) (id === 1 ? functions : globals).push(sub.name());
        else {
          // local or label names: a map of its own per function
          const k = sub.u32();
          for (let j = 0; j < k; j++) {
            sub.u32();
            sub.name();
          }
        }
        body.push(bytes.subarray(from, sub.pos));
      }
      if (!sub.done) return null;
      const payload = concat(body);
      out.push([id, ...u32(payload.length)], payload);
    }
    return { payload: concat(out), functions, globals };
  } catch {
    return null;
  }
}
