/**
 * Which world a component's exports fit, judged by their types, not only their names: a
 * component whose `handle` is `func(x: u32) -> u32` is no agent, and would crash on every
 * message. Each export is compared with the world's in `wit/worlds.wit` structurally: aliases
 * are expanded (`json` is `string`), records, variants, enums and flags compare by their fields
 * or cases, in order; parameter names do not matter (the glue passes arguments by position).
 *
 * wasm-tools prints a component's own package in full but other packages' interfaces by name
 * only, so `message` from `agentos:kernel/types` would be taken on trust. `revealKernelTypes`
 * renames that import (same length, in place) into the printed root package first; its types
 * are then printed, and checked, like the component's own.
 *
 * @example
 * const wit = await componentWit(revealKernelTypes(bytes) ?? bytes);
 * checkExports(wit);
 * // { world: 'unknown', problems: ['exports handle: func(x: u32) -> u32, but the agent world has handle: func(message: message) -> result<outcome, error>'] }
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ABI_VERSION, PACKAGE } from '../base/abi.js';
import { AgentOSError } from '../base/errors.js';
import { witDir } from '../base/paths.js';
import { readU32 } from '../base/wasm-header.js';
import {
  readWit,
  showFunc,
  showType,
  type TypeDef,
  type TypeExpr,
  type WitDoc,
  type WitFunc,
  type WitScope,
} from './wit-text.js';

export type ComponentWorld = 'agent' | 'skill' | 'unknown';

const TYPES_IMPORT = `${PACKAGE}/types@${ABI_VERSION}`;
const ROOT = 'root:component/';
/** The printed name of the renamed types interface: as long as TYPES_IMPORT, inside ROOT. */
export const REVEALED_TYPES = 'kerneltypes'.padEnd(TYPES_IMPORT.length - ROOT.length, 'x');

/**
 * A copy of `bytes` whose import of `agentos:kernel/types` is renamed to `root:component/…`
 * (the package wasm-tools prints a component as), or null if it has no such import.
 */
export function revealKernelTypes(bytes: Uint8Array): Uint8Array | null {
  const name = new TextEncoder().encode(TYPES_IMPORT);
  const framed = [name.length, ...name, 0x05]; // length, name, then "an instance"
  let pos = 8;
  while (pos < bytes.length) {
    const id = bytes[pos]!;
    const size = readU32(bytes, pos + 1);
    if (!size) return null;
    const [len, start] = size;
    if (id === 10) {
      for (let i = start; i + framed.length <= start + len; i++) {
        if (framed.every((b, k) => bytes[i + k] === b)) {
          // A copy (Buffer's slice would share the caller's memory).
          const copy = new Uint8Array(bytes);
          copy.set(new TextEncoder().encode(ROOT + REVEALED_TYPES), i + 1);
          return copy;
        }
      }
    }
    pos = start + len;
  }
  return null;
}

const PRIMITIVES = new Map([
  ['float32', 'f32'],
  ['float64', 'f64'],
  ...['bool', 's8', 's16', 's32', 's64', 'u8', 'u16', 'u32', 'u64', 'f32', 'f64', 'char', 'string'].map(
    (p) => [p, p] as [string, string],
  ),
]);
const GENERICS = new Set(['list', 'option', 'result', 'tuple', 'borrow', 'own', 'future', 'stream']);

/** Resolves names to structure; `kernel` answers `use`s of agentos:kernel/types taken on trust. */
class Structure {
  constructor(
    private readonly doc: WitDoc,
    private readonly kernel: WitDoc,
  ) {}

  type(t: TypeExpr | null, scope: WitScope, depth = 0): string {
    if (t === null) return '_';
    if (depth > 64) return '?too-deep';
    const prim = t.args.length === 0 ? PRIMITIVES.get(t.name) : undefined;
    if (prim) return prim;
    if (GENERICS.has(t.name) || t.args.length > 0)
      return `${t.name}<${t.args.map((a) => this.type(a, scope, depth + 1)).join(',')}>`;
    const def = scope.types.get(t.name);
    return def ? this.def(def, t.name, scope, depth + 1) : /^\d+$/.test(t.name) ? t.name : `?${t.name}`;
  }

  private def(d: TypeDef, name: string, scope: WitScope, depth: number): string {
    switch (d.kind) {
      case 'alias':
        return this.type(d.of, scope, depth);
      case 'record':
        return `record{${d.fields.map(([f, t]) => `${f}:${this.type(t, scope, depth)}`).join(',')}}`;
      case 'variant':
        return `variant{${d.cases.map(([c, t]) => (t ? `${c}(${this.type(t, scope, depth)})` : c)).join(',')}}`;
      case 'enum':
      case 'flags':
        return `${d.kind}{${d.names.join(',')}}`;
      case 'resource':
        return `resource ${scope.name}.${name}`;
      case 'use': {
        // The kernel's types taken on their names only where they were not printed: a
        // component not renamed, or a wasm-tools that names the root package otherwise.
        const trusted = d.from === TYPES_IMPORT || d.from === ROOT + REVEALED_TYPES;
        const from =
          this.doc.interfaces.get(d.from) ?? (trusted ? this.kernel.interfaces.get('types') : undefined);
        const target = from?.types.get(d.name);
        return from && target ? this.def(target, d.name, from, depth + 1) : `?${d.from}.${d.name}`;
      }
    }
  }

  func(f: WitFunc, scope: WitScope): string {
    const params = f.params.map(([, t]) => this.type(t, scope)).join(',');
    return `func(${params})->${f.result ? this.type(f.result, scope) : 'none'}`;
  }
}

let kernelDoc: WitDoc | undefined;

/** The kernel's own types and worlds, from wit/ (the one source of truth). */
function kernelWorlds(): WitDoc {
  if (!kernelDoc) {
    const text = ['types.wit', 'worlds.wit'].map((f) => readFileSync(join(witDir(), f), 'utf8')).join('\n');
    const doc = readWit(text);
    // The package's own WIT is damaged or missing: no component's fault, so an internal error.
    if (!doc?.worlds.has('agent') || !doc.worlds.has('skill'))
      throw new AgentOSError('AOS_E_INTERNAL', `cannot read the agent and skill worlds from ${witDir()}`, {
        dir: witDir(),
      });
    kernelDoc = doc;
  }
  return kernelDoc;
}

/** The world the exports fit, and (when none) each reason, as sentences after the component's name. */
export interface ExportCheck {
  world: ComponentWorld;
  problems: string[];
}

/** Checks the exports of a component's printed WIT (one world) against the agent and skill worlds. */
export function checkExports(wit: string): ExportCheck {
  const kernel = kernelWorlds();
  const doc = readWit(wit);
  const mine = doc && doc.worlds.size === 1 ? [...doc.worlds.values()][0]! : null;
  if (!doc || !mine)
    return {
      world: 'unknown',
      problems: ['has a WIT world this kernel cannot read, so its exports cannot be checked'],
    };
  const names = [...mine.exports.keys()];
  const fits = (['agent', 'skill'] as const).map((w) => ({
    w,
    hits: names.filter((n) => kernel.worlds.get(w)!.exports.has(n)).length,
  }));
  const [a, s] = fits as [(typeof fits)[0], (typeof fits)[0]];
  if (a.hits === s.hits) {
    const list = names.join(', ') || 'nothing';
    return {
      world: 'unknown',
      problems: [`exports ${list}; an agent exports init and handle, a skill describe and invoke`],
    };
  }
  const w = a.hits > s.hits ? a.w : s.w;
  const world = kernel.worlds.get(w)!;
  const expected = new Structure(kernel, kernel);
  const actual = new Structure(doc, kernel);
  const problems: string[] = [];
  for (const [name, want] of world.exports) {
    const have = mine.exports.get(name);
    const wanted = showFunc(name, want!);
    if (have === undefined) problems.push(`does not export ${name}; the ${w} world has ${wanted}`);
    else if (have === null)
      problems.push(`exports ${name} as something other than a function; the ${w} world has ${wanted}`);
    else {
      const shapeHave = actual.func(have, mine);
      const shapeWant = expected.func(want!, world);
      if (shapeHave === shapeWant) continue;
      const shown = showFunc(name, have);
      let why = '';
      if (shown === wanted) {
        // The same WIT text: say which type differs, expanded on both sides.
        const pairs = [
          ...have.params.map(([, t], i) => [t, want!.params[i]![1]]),
          [have.result, want!.result],
        ];
        for (const [h, x] of pairs as [TypeExpr | null, TypeExpr | null][]) {
          const [a, b] = [actual.type(h, mine), expected.type(x, world)];
          if (a !== b) {
            why = `; the same names, other types: ${showType(h)} is ${a} here, ${b} in the ${w} world`;
            break;
          }
        }
      }
      problems.push(`exports ${shown}, but the ${w} world has ${wanted}${why}`);
    }
  }
  for (const name of names)
    if (!world.exports.has(name)) problems.push(`also exports ${name}, which the ${w} world does not have`);
  return { world: problems.length === 0 ? w : 'unknown', problems };
}
