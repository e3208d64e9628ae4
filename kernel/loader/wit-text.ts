/**
 * Reads the part of WIT that the export check needs: the type definitions of interfaces and
 * worlds, their `use`s, and each world's exported functions. It reads the kernel's own `wit/`
 * sources and the WIT that wasm-tools prints for a component (`componentWit`); anything else
 * (function bodies of interfaces, attributes, resources' methods) is skipped. Type expressions
 * nest at most MAX_NESTING deep: a component cannot make this parser overflow its stack.
 *
 * @example
 * const doc = readWit('package a:b; interface t { type json = string; } world w { use t.{json}; export f: func(x: json); }');
 * doc.worlds.get('w')!.exports.get('f');   // { params: [['x', { name: 'json', args: [] }]], result: null }
 */

/** A type as written: `string`, `message`, `result<_, error>` (null stands for `_`). */
export interface TypeExpr {
  name: string;
  args: (TypeExpr | null)[];
}

export type TypeDef =
  | { kind: 'alias'; of: TypeExpr }
  | { kind: 'record'; fields: [string, TypeExpr][] }
  | { kind: 'variant'; cases: [string, TypeExpr | null][] }
  | { kind: 'enum' | 'flags'; names: string[] }
  | { kind: 'resource' }
  | { kind: 'use'; from: string; name: string };

export interface WitFunc {
  params: [string, TypeExpr][];
  result: TypeExpr | null;
}

/** An interface or a world: the types it defines or uses. */
export interface WitScope {
  name: string;
  types: Map<string, TypeDef>;
}

export interface WitWorld extends WitScope {
  /** Exports by name: a function, or null for anything else (an interface). */
  exports: Map<string, WitFunc | null>;
}

export interface WitDoc {
  interfaces: Map<string, WitScope>;
  worlds: Map<string, WitWorld>;
}

/** Deepest type expression read; deeper ones are not understood (and so match nothing). */
export const MAX_NESTING = 64;

const TOKEN =
  /\s+|\/\/[^\n]*|\/\*[\s\S]*?\*\/|(%?[a-z][a-z0-9-]*(?::%?[a-z][a-z0-9-]*)+(?:\/%?[a-z][a-z0-9-]*)?(?:@\d+\.\d+\.\d+(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?)?)|(%?[A-Za-z][A-Za-z0-9-]*|\d[\w.+-]*|->|[{}()<>,;:=.*@/_])|(.)/gy;

function tokenize(text: string): string[] {
  const out: string[] = [];
  TOKEN.lastIndex = 0;
  for (let m = TOKEN.exec(text); m; m = TOKEN.exec(text)) {
    const t = m[1] ?? m[2] ?? m[3];
    if (t !== undefined) out.push(t);
  }
  return out;
}

/** A name without WIT's keyword escape: `%u8` is the name `u8`. */
const plain = (name: string): string => (name.startsWith('%') ? name.slice(1) : name);

class NotUnderstood extends Error {}

class Reader {
  private i = 0;
  constructor(private readonly t: string[]) {}

  get done(): boolean {
    return this.i >= this.t.length;
  }
  peek(k = 0): string | undefined {
    return this.t[this.i + k];
  }
  next(): string {
    const t = this.t[this.i++];
    if (t === undefined) throw new NotUnderstood('unexpected end');
    return t;
  }
  eat(t: string): boolean {
    if (this.t[this.i] !== t) return false;
    this.i++;
    return true;
  }
  expect(t: string): void {
    if (!this.eat(t)) throw new NotUnderstood(`expected ${t}, found ${this.peek()}`);
  }
  /** Skips to the end of the current item: its `;`, or its `{ ... }` block. */
  skipItem(): void {
    let depth = 0;
    while (!this.done) {
      const t = this.next();
      if (t === '{') depth++;
      else if (t === '}') {
        if (--depth <= 0) {
          this.eat(';');
          return;
        }
      } else if (t === ';' && depth === 0) return;
    }
  }
  /** Skips an attribute (`@since(version = 1.0.0)`) if one starts here; the item it marks stays. */
  skipAttribute(): boolean {
    if (!this.eat('@')) return false;
    this.next();
    if (this.eat('(')) {
      let t = this.next();
      while (t !== ')') t = this.next();
    }
    return true;
  }
  /** A comma-separated list up to `close`, each item read by `item`. */
  list<T>(close: string, item: () => T): T[] {
    const out: T[] = [];
    while (!this.eat(close)) {
      out.push(item());
      if (!this.eat(',')) {
        this.expect(close);
        break;
      }
    }
    return out;
  }
  type(depth = 0): TypeExpr {
    if (depth > MAX_NESTING) throw new NotUnderstood('type nests too deep');
    const name = plain(this.next());
    if (!this.eat('<')) return { name, args: [] };
    const args = this.list('>', () => (this.eat('_') ? null : this.type(depth + 1)));
    return { name, args };
  }
  func(): WitFunc {
    this.expect('func');
    this.expect('(');
    const params = this.list(')', (): [string, TypeExpr] => {
      const n = plain(this.next());
      this.expect(':');
      return [n, this.type()];
    });
    const result = this.eat('->') ? this.type() : null;
    return { params, result };
  }
}

/** Reads a `use path.{a, b as c};` into `scope`. */
function readUse(r: Reader, scope: WitScope): void {
  const from = plain(r.next());
  r.expect('.');
  r.expect('{');
  for (const [name, as] of r.list('}', () => {
    const n = plain(r.next());
    return [n, r.eat('as') ? plain(r.next()) : n] as const;
  }))
    scope.types.set(as, { kind: 'use', from, name });
  r.expect(';');
}

/** Reads a type definition (`type`, `record`, ...) if one starts here; false if not. */
function readTypeDef(r: Reader, scope: WitScope): boolean {
  const kw = r.peek();
  if (kw === 'type') {
    r.next();
    const name = plain(r.next());
    r.expect('=');
    scope.types.set(name, { kind: 'alias', of: r.type() });
    r.expect(';');
  } else if (kw === 'record' || kw === 'variant' || kw === 'enum' || kw === 'flags') {
    r.next();
    const name = plain(r.next());
    r.expect('{');
    if (kw === 'record') {
      const fields = r.list('}', (): [string, TypeExpr] => {
        const f = plain(r.next());
        r.expect(':');
        return [f, r.type()];
      });
      scope.types.set(name, { kind: 'record', fields });
    } else if (kw === 'variant') {
      const cases = r.list('}', (): [string, TypeExpr | null] => {
        const c = plain(r.next());
        if (!r.eat('(')) return [c, null];
        const t = r.type();
        r.expect(')');
        return [c, t];
      });
      scope.types.set(name, { kind: 'variant', cases });
    } else scope.types.set(name, { kind: kw, names: r.list('}', () => plain(r.next())) });
  } else if (kw === 'resource') {
    r.next();
    scope.types.set(plain(r.next()), { kind: 'resource' });
    r.skipItem();
  } else return false;
  return true;
}

function readScopeBody(r: Reader, scope: WitScope, world: WitWorld | null): void {
  r.expect('{');
  while (!r.eat('}')) {
    if (r.skipAttribute()) continue;
    if (r.eat('use')) readUse(r, scope);
    else if (readTypeDef(r, scope)) continue;
    else if (world && r.peek() === 'export' && r.peek(2) === ':' && r.peek(3) === 'func') {
      r.next();
      const name = plain(r.next());
      r.expect(':');
      world.exports.set(name, r.func());
      r.expect(';');
    } else if (world && r.eat('export')) {
      world.exports.set(plain(r.peek() ?? ''), null);
      r.skipItem();
    } else r.skipItem();
  }
}

/** Reads WIT text; what it does not understand throws (see `readWitOrNull`). */
function readWitStrict(text: string): WitDoc {
  const r = new Reader(tokenize(text));
  const doc: WitDoc = { interfaces: new Map(), worlds: new Map() };
  while (!r.done) {
    if (r.skipAttribute()) continue;
    const kw = r.next();
    if (kw === 'package') {
      r.next();
      if (r.eat('{')) continue; // a nested package: its items follow; its `}` is skipped below
      r.expect(';');
    } else if (kw === 'interface') {
      const scope: WitScope = { name: plain(r.next()), types: new Map() };
      readScopeBody(r, scope, null);
      doc.interfaces.set(scope.name, scope);
    } else if (kw === 'world') {
      const world: WitWorld = { name: plain(r.next()), types: new Map(), exports: new Map() };
      readScopeBody(r, world, world);
      doc.worlds.set(world.name, world);
    } else if (kw !== '}') r.skipItem();
  }
  return doc;
}

/** Reads WIT text, or null when it holds something this reader does not understand. */
export function readWit(text: string): WitDoc | null {
  try {
    return readWitStrict(text);
  } catch (e) {
    if (e instanceof NotUnderstood) return null;
    throw e;
  }
}

/** A type expression as WIT writes it. */
export function showType(t: TypeExpr | null): string {
  if (t === null) return '_';
  return t.args.length === 0 ? t.name : `${t.name}<${t.args.map(showType).join(', ')}>`;
}

/** `name: func(a: T) -> R`, as WIT writes it. */
export function showFunc(name: string, f: WitFunc): string {
  const params = f.params.map(([n, t]) => `${n}: ${showType(t)}`).join(', ');
  return `${name}: func(${params})${f.result ? ` -> ${showType(f.result)}` : ''}`;
}
