/**
 * JSON that survives the trip: the one serializer for what embedders hand the kernel (message
 * bodies, tool arguments, spawn config) and for what the CLI prints. JSON.stringify quietly
 * changes some values — NaN and ±Infinity become `null`, a string or key with a lone surrogate
 * reaches a guest as U+FFFD once encoded as UTF-8 — and throws a RangeError on values nested a
 * few thousand levels deep. `toJson` writes the same text as JSON.stringify for everything else,
 * refuses those values (strict, the default) with the path to the culprit, and walks the value
 * with its own stack, so any depth gets an answer, never a stack overflow.
 *
 * @example
 * toJson({ n: 1 });            // { text: '{"n":1}' }
 * toJson({ n: [NaN] });        // { problem: { path: '.n[0]', reason: 'NaN (JSON has no such number; ...)' } }
 * jsonText(body, 'message body', 'AOS_E_BAD_MESSAGE');   // the text, or a coded error
 */
import { AgentOSError, type ErrorCode } from './errors.js';

/**
 * Deepest nesting the kernel accepts. Deeper values are refused: V8's own JSON.stringify and
 * structuredClone, which embedders and parts of the kernel use on values read back, overflow
 * between 2,000 and 4,200 levels, and a guest's JSON parser may stop sooner.
 */
export const MAX_JSON_DEPTH = 1000;

export interface JsonOptions {
  /** Refuse NaN, ±Infinity and lone surrogates (default); false writes them as JSON.stringify does. */
  strict?: boolean;
  /** Deepest nesting written; deeper is a problem. Default MAX_JSON_DEPTH. */
  maxDepth?: number;
  /** Spaces per level, as JSON.stringify's third argument; 0 (default): one line. */
  indent?: number;
  /** Applied to every value after its toJSON (JSON.stringify's replacer, without the key). */
  replace?: (value: unknown) => unknown;
}

/** Why a value cannot be written: where (`.a[2]`, '' for the value itself) and what is there. */
export interface JsonProblem {
  path: string;
  reason: string;
}

export type JsonResult = { text: string; problem?: undefined } | { text?: undefined; problem: JsonProblem };

interface Frame {
  value: object;
  items: readonly unknown[] | null;
  keys: string[] | null;
  next: number;
  written: number;
  /** The key (or index) of the child being written, for paths. */
  at: string | number;
}

/** What JSON.stringify leaves out of an object, or writes as null in an array. */
const omitted = (v: unknown): boolean => v === undefined || typeof v === 'function' || typeof v === 'symbol';

const IDENT = /^[A-Za-z_$][\w$]*$/;

function pathOf(stack: readonly Frame[]): string {
  return stack
    .map((f) =>
      typeof f.at === 'number' ? `[${f.at}]` : IDENT.test(f.at) ? `.${f.at}` : `[${JSON.stringify(f.at)}]`,
    )
    .join('');
}

/** The first lone surrogate of `s`, as `U+D800`. */
function loneSurrogate(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
      else return `U+${c.toString(16).toUpperCase()}`;
    } else if (c >= 0xdc00 && c <= 0xdfff) return `U+${c.toString(16).toUpperCase()}`;
  }
  return '';
}

const CYCLE = 'the value itself again (a cycle)';

/** The first place where the path on `stack` (then `next`) meets an object it is already inside. */
function cycleIn(stack: readonly Frame[], next: object): JsonResult | null {
  const seen = new Set<object>();
  for (let k = 0; k <= stack.length; k++) {
    const v = k < stack.length ? stack[k]!.value : next;
    if (seen.has(v)) return { problem: { path: pathOf(stack.slice(0, k)), reason: CYCLE } };
    seen.add(v);
  }
  return null;
}

const surrogate = (what: string, s: string): string =>
  `a ${what} with a lone surrogate ${loneSurrogate(s)} (UTF-8 cannot carry it: it would arrive as U+FFFD)`;

/**
 * Writes `root` as JSON text, or says why it cannot. Never recurses, so never overflows. With
 * `emit: false` it only checks (the text is then JSON.stringify's, see `jsonText`).
 */
export function toJson(root: unknown, options: JsonOptions & { emit?: boolean } = {}): JsonResult {
  const strict = options.strict ?? true;
  const maxDepth = options.maxDepth ?? MAX_JSON_DEPTH;
  const indent = options.indent ?? 0;
  const replace = options.replace;
  const out: string[] | null = options.emit === false ? null : [];
  const stack: Frame[] = [];
  // Without a depth limit, cycles are tracked as they are entered. With one (the kernel's
  // checks), a cycle ends up past the limit, and only then is the stack searched for it: a Set
  // per value costs more than the rest of the walk.
  const open = Number.isFinite(maxDepth) ? null : new Set<object>();
  const fail = (reason: string): JsonResult => ({ problem: { path: pathOf(stack), reason } });
  const newline = (depth: number): string => `\n${' '.repeat(indent * depth)}`;

  // toJSON, the replacer and unboxing, in JSON.stringify's order.
  const prepare = (v: unknown, key: string | number): unknown => {
    if (typeof v === 'object' && v !== null) {
      const toJSON = (v as { toJSON?: unknown }).toJSON;
      if (typeof toJSON === 'function') v = toJSON.call(v, String(key));
    } else if (typeof v === 'bigint') {
      const toJSON = (v as { toJSON?: unknown }).toJSON;
      if (typeof toJSON === 'function') v = toJSON.call(v, String(key));
    }
    if (replace) v = replace(v);
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return v;
    const proto = Object.getPrototypeOf(v);
    if (proto === Object.prototype || proto === null) return v;
    if (v instanceof Number) return Number(v);
    if (v instanceof String) return String(v);
    if (v instanceof Boolean || v instanceof BigInt) return v.valueOf();
    return v;
  };

  // Writes one value; an array or object becomes a frame whose children the loop writes.
  const write = (v: unknown): JsonResult | null => {
    switch (typeof v) {
      case 'string':
        if (strict && !v.isWellFormed()) return fail(surrogate('string', v));
        out?.push(JSON.stringify(v));
        return null;
      case 'number':
        if (Number.isFinite(v)) out?.push(JSON.stringify(v));
        else if (strict) return fail(`${v} (JSON has no such number: it would arrive as null)`);
        else out?.push('null');
        return null;
      case 'boolean':
        out?.push(v ? 'true' : 'false');
        return null;
      case 'bigint':
        return fail('a BigInt (JSON numbers are doubles; convert it to a string)');
      case 'object': {
        if (v === null) {
          out?.push('null');
          return null;
        }
        if (open?.has(v)) return fail(CYCLE);
        if (stack.length >= maxDepth)
          return cycleIn(stack, v) ?? fail(`nesting deeper than ${maxDepth} levels`);
        const items = Array.isArray(v) ? (v as unknown[]) : null;
        open?.add(v);
        stack.push({ value: v, items, keys: items ? null : Object.keys(v), next: 0, written: 0, at: '' });
        out?.push(items ? '[' : '{');
        return null;
      }
      default:
        return fail(`a ${typeof v}`);
    }
  };

  try {
    const first = prepare(root, '');
    if (omitted(first)) return fail(`not a JSON value (${typeof first})`);
    const r = write(first);
    if (r) return r;
    while (stack.length > 0) {
      const f = stack[stack.length - 1]!;
      const depth = stack.length;
      let child: unknown;
      let found = false;
      if (f.items) {
        if (f.next < f.items.length) {
          const i = f.next++;
          f.at = i;
          if (out) {
            if (f.written++ > 0) out.push(',');
            if (indent > 0) out.push(newline(depth));
          }
          child = prepare(f.items[i], i);
          if (omitted(child)) {
            out?.push('null');
            continue;
          }
          found = true;
        }
      } else if (f.keys) {
        while (f.next < f.keys.length) {
          const key = f.keys[f.next++]!;
          f.at = key;
          child = prepare((f.value as Record<string, unknown>)[key], key);
          if (omitted(child)) continue;
          if (strict && !key.isWellFormed()) return fail(surrogate('key', key));
          if (out) {
            if (f.written++ > 0) out.push(',');
            if (indent > 0) out.push(newline(depth));
            out.push(JSON.stringify(key), indent > 0 ? ': ' : ':');
          }
          found = true;
          break;
        }
      }
      if (found) {
        const r = write(child);
        if (r) return r;
        continue;
      }
      if (out) {
        if (f.written > 0 && indent > 0) out.push(newline(depth - 1));
        out.push(f.items ? ']' : '}');
      }
      open?.delete(f.value);
      stack.pop();
    }
  } catch (e) {
    // A toJSON, a getter or the replacer threw.
    return fail(`a value whose conversion threw: ${(e as Error)?.message ?? String(e)}`);
  }
  return { text: out ? out.join('') : '' };
}

/**
 * The JSON text of `value`, or an AgentOSError `code` naming `what` and the problem.
 * @example jsonText(config, 'config', 'AOS_E_BAD_CONFIG')
 */
export function jsonText(value: unknown, what: string, code: ErrorCode): string {
  // Checked here, written by V8: within MAX_JSON_DEPTH, without cycles or BigInts, JSON.stringify
  // writes what toJson would, several times faster.
  const r = toJson(value, { emit: false });
  if (r.problem === undefined) return JSON.stringify(value);
  const { path, reason } = r.problem;
  if (path === '' && reason.startsWith('not a JSON value'))
    throw new AgentOSError(code, `${what} must be a JSON value, got ${typeof value}`);
  throw new AgentOSError(code, `${what} is not JSON-serialisable: ${reason}${path ? ` at ${path}` : ''}`, {
    path,
  });
}
