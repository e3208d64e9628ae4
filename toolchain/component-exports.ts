/**
 * Rewrites the top-level exports of a component binary: drops some, renames others, and fixes
 * the func indices of the exports that follow a dropped one. Nothing inside nested components or
 * core modules is touched (their bytes are copied as they are). The QuickJS build uses it to drop
 * the runtime's own Wizer `init` export and give the agent's init its name back
 * (build-quickjs.ts).
 *
 * In the component model every `export` adds an item to its sort's index space, so dropping an
 * export of a func shifts the func indices defined after it. The rewrite counts the top-level func
 * index space (imports, aliases, canon lift, exports), and after the first dropped export it
 * accepts only sections whose func references it can fix (alias, export, custom); any other
 * layout is refused with an error rather than guessed at.
 *
 * @example
 * const out = rewriteExports(component, { drop: ['init'], rename: { 'agent-init': 'init' } });
 * exportNames(out); // ['init', 'handle']
 */

/** 0x01 func … 0x05 instance, `core:<n>` for a core sort, or what an externdesc adds. */
type Sort = number | string;

interface Section {
  id: number;
  body: Uint8Array;
}

interface Export {
  nameTag: number;
  name: string;
  sort: Sort;
  sortBytes: Uint8Array;
  idx: number;
  desc: Uint8Array;
}

export interface ExportEdit {
  /** Func exports to remove. */
  drop?: string[];
  /** Old name → new name. */
  rename?: Record<string, string>;
}

/** The byte at `o`; past the end, the component is truncated. */
function at(b: Uint8Array, o: number): number {
  const x = b[o];
  if (x === undefined) throw new Error(`the component is truncated (read past byte ${b.length})`);
  return x;
}

function readU32(b: Uint8Array, o: number): [number, number] {
  let r = 0;
  let s = 0;
  let x: number;
  do {
    x = at(b, o++);
    r += (x & 0x7f) * 2 ** s;
    s += 7;
  } while (x & 0x80);
  return [r, o];
}

function skipS33(b: Uint8Array, o: number): number {
  while (at(b, o++) & 0x80);
  return o;
}

function u32(n: number): number[] {
  const out: number[] = [];
  do {
    let x = n & 0x7f;
    n = Math.floor(n / 128);
    if (n) x |= 0x80;
    out.push(x);
  } while (n);
  return out;
}

function readString(b: Uint8Array, o: number): [string, number] {
  const [n, p] = readU32(b, o);
  return [new TextDecoder().decode(b.subarray(p, p + n)), p + n];
}

const encodeString = (s: string): number[] => {
  const bytes = new TextEncoder().encode(s);
  return [...u32(bytes.length), ...bytes];
};

/** `importname'` / `exportname'`: 0x00 name, or 0x01 name (older interface-name form). */
function readExternName(b: Uint8Array, o: number): [number, string, number] {
  const tag = at(b, o);
  if (tag !== 0x00 && tag !== 0x01) throw new Error(`unknown extern name form 0x${tag.toString(16)} at ${o}`);
  const [name, p] = readString(b, o + 1);
  return [tag, name, p];
}

/** sort: 0x00 coresort | 0x01 func | 0x02 value | 0x03 type | 0x04 component | 0x05 instance. */
function readSort(b: Uint8Array, o: number): [Sort, number] {
  const s = at(b, o++);
  if (s === 0x00) return [`core:${b[o]}`, o + 1];
  if (s < 0x01 || s > 0x05) throw new Error(`unknown sort 0x${s.toString(16)} at ${o - 1}`);
  return [s, o];
}

const FUNC = 0x01;

/** externdesc; returns [sort it adds to (FUNC for a func), offset after]. */
function readExternDesc(b: Uint8Array, o: number): [Sort, number] {
  const k = at(b, o++);
  switch (k) {
    case 0x00: // core module: 0x11 typeidx
      return ['core-module', readU32(b, o + 1)[1]];
    case 0x01: // func typeidx
    case 0x04: // component typeidx
    case 0x05: // instance typeidx
      return [k, readU32(b, o)[1]];
    case 0x02: // value bound: 0x00 valueidx | 0x01 valtype
      return [0x02, b[o] === 0x00 ? readU32(b, o + 1)[1] : skipS33(b, o + 1)];
    case 0x03: // type bound: 0x00 typeidx | 0x01 (sub resource)
      return [0x03, b[o] === 0x00 ? readU32(b, o + 1)[1] : o + 1];
    default:
      throw new Error(`unknown externdesc 0x${k.toString(16)} at ${o - 1}`);
  }
}

function sectionsOf(b: Uint8Array): Section[] {
  const magic = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];
  if (!magic.every((x, i) => b[i] === x)) throw new Error('not a component (bad header)');
  const out: Section[] = [];
  let o = 8;
  while (o < b.length) {
    const id = at(b, o);
    const [size, p] = readU32(b, o + 1);
    if (p + size > b.length)
      throw new Error(`the component is truncated (section ${id} runs past byte ${b.length})`);
    out.push({ id, body: b.subarray(p, p + size) });
    o = p + size;
  }
  return out;
}

/** How many funcs an import (10), alias (6) or canon (8) section adds. */
function funcsAdded(id: number, body: Uint8Array): number {
  let [count, o] = readU32(body, 0);
  let n = 0;
  for (let k = 0; k < count; k++) {
    if (id === 10) {
      [, , o] = readExternName(body, o);
      let sort: Sort;
      [sort, o] = readExternDesc(body, o);
      if (sort === FUNC) n++;
    } else if (id === 6) {
      let sort: Sort;
      [sort, o] = readSort(body, o);
      const t = at(body, o++);
      if (t === 0x00 || t === 0x01) [, o] = readString(body, readU32(body, o)[1]);
      else if (t === 0x02) o = readU32(body, readU32(body, o)[1])[1];
      else throw new Error(`unknown alias target 0x${t.toString(16)}`);
      if (sort === FUNC) n++;
    } else if (id === 8) {
      // Only canon lift (0x00 0x00 core-func-idx opts typeidx) adds a component func.
      const op = at(body, o);
      if (op !== 0x00) {
        // Every other canon builtin defines core funcs; their encodings vary, so refuse rather
        // than mis-count: none appear in a componentize-qjs composition's top level.
        throw new Error(`canon 0x${op.toString(16)} at the top level: layout not supported`);
      }
      o = readU32(body, o + 2)[1];
      let opts: number;
      [opts, o] = readU32(body, o);
      for (let i = 0; i < opts; i++) {
        const opt = at(body, o++);
        if (opt === 0x03 || opt === 0x04 || opt === 0x05 || opt === 0x07) o = readU32(body, o)[1];
      }
      o = readU32(body, o)[1];
      n++;
    }
  }
  return n;
}

/** Decodes an export section: [{ nameTag, name, sort, idx, desc (raw bytes) }]. */
function readExports(body: Uint8Array): Export[] {
  let [count, o] = readU32(body, 0);
  const out: Export[] = [];
  for (let k = 0; k < count; k++) {
    let nameTag: number;
    let name: string;
    [nameTag, name, o] = readExternName(body, o);
    const sortStart = o;
    let sort: Sort;
    [sort, o] = readSort(body, o);
    const sortBytes = body.subarray(sortStart, o);
    let idx: number;
    [idx, o] = readU32(body, o);
    const descStart = o;
    if (body[o++] === 0x01) [, o] = readExternDesc(body, o);
    out.push({ nameTag, name, sort, sortBytes, idx, desc: body.subarray(descStart, o) });
  }
  return out;
}

function writeExports(list: Export[]): Uint8Array {
  const bytes = [...u32(list.length)];
  for (const e of list)
    bytes.push(e.nameTag, ...encodeString(e.name), ...e.sortBytes, ...u32(e.idx), ...e.desc);
  return Uint8Array.from(bytes);
}

/**
 * The component with its top-level exports edited.
 * @throws Error when a named export is missing, or the layout is one the rewrite cannot fix
 */
export function rewriteExports(component: Uint8Array, { drop = [], rename = {} }: ExportEdit): Uint8Array {
  const sections = sectionsOf(component);
  const dropped: number[] = []; // func indices (as first defined) of dropped func exports
  const seen = new Set<string>();
  let funcs = 0;
  const parts = [component.subarray(0, 8)];
  for (const s of sections) {
    let body = s.body;
    if (dropped.length > 0 && s.id !== 0 && s.id !== 6 && s.id !== 11) {
      throw new Error(`section ${s.id} after a dropped export: layout not supported`);
    }
    if (s.id === 11) {
      const kept = [];
      for (const e of readExports(body)) {
        if (e.sort === FUNC) {
          if (dropped.includes(e.idx)) throw new Error(`export "${e.name}" re-exports a dropped export`);
          e.idx -= dropped.filter((d) => d < e.idx).length;
        }
        if (drop.includes(e.name)) {
          if (e.sort !== FUNC) throw new Error(`export "${e.name}" is not a func: cannot drop it`);
          dropped.push(funcs);
          seen.add(e.name);
          continue; // its func index disappears
        }
        if (e.name in rename) {
          seen.add(e.name);
          e.name = rename[e.name]!;
        }
        if (e.sort === FUNC) funcs++;
        kept.push(e);
      }
      if (kept.length === 0) continue;
      body = writeExports(kept);
    } else if (s.id === 6 || s.id === 8 || s.id === 10) {
      funcs += funcsAdded(s.id, body);
    }
    parts.push(Uint8Array.from([s.id, ...u32(body.length)]), body);
  }
  for (const name of [...drop, ...Object.keys(rename)]) {
    if (!seen.has(name)) throw new Error(`the component has no top-level export "${name}"`);
  }
  const size = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(size);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Top-level export names, in order (for checks). */
export function exportNames(component: Uint8Array): string[] {
  return sectionsOf(component)
    .filter((s) => s.id === 11)
    .flatMap((s) => readExports(s.body).map((e) => e.name));
}
