/**
 * The export wrapper `agentos build` puts around a component's exports. In a componentize-js
 * (StarlingMonkey) component an Error that escapes an export is reported to stderr — which the
 * build disables, like every WASI feature — and the engine then aborts: the kernel saw only
 * "wasm trap: unreachable". The engine cannot be asked afterwards either: the trapped instance
 * cannot be re-entered, and its core module has no name section to find the message by.
 *
 * So each export is wrapped: a value thrown out of it (synchronously, or as the rejection of a
 * returned promise) is caught, described (name, message, `e.stack`) and returned as a crash
 * report the worker recognises (CRASH_MARKER in kernel/worker/protocol.ts): an `err` for init,
 * handle and invoke, a one-descriptor list for describe. What the guest returns is untouched,
 * and so is what componentize-js already lowers to `err(...)`: a value with its own `payload`
 * (how a hostcall's error is thrown) and a thrown `{ tag, val }` error variant.
 *
 * QuickJS (componentize-qjs) lowers results differently: only a thrown `{ tag, val }` becomes
 * `err(...)`; a returned `{ tag: 'err', val }` traps in handle and is silently dropped in init,
 * and a returned `{ tag: 'ok', val }` traps. So for QuickJS the wrapper throws its crash reports,
 * takes a returned `{ tag: 'ok' | 'err', val }` as the result itself (as componentize-js does:
 * `ok` returns `val`, `err` throws it), refuses a returned promise (its exports run synchronously)
 * and exports init under the internal name the QuickJS build gives it (build-quickjs.ts). The
 * guest sees one convention on both engines: return the value, or throw `{ tag, val }`.
 *
 * @example
 * const code = await wrapExports(bundledSource, ['init', 'handle']);
 * const qjs = await wrapExports(bundledSource, ['init', 'handle'], 'quickjs');
 */
import { build, type Plugin } from 'esbuild';
import { GUEST_ERROR_TAGS } from '../kernel/base/errors.js';
import { CRASH_MARKER } from '../kernel/worker/protocol.js';

/** How each export reports a crash: describe returns a list, the others a result. */
const AS_LIST = new Set(['describe']);

export type Engine = 'quickjs' | 'spidermonkey';

/** What a QuickJS build calls the agent's init while componentize-qjs runs (build-quickjs.ts). */
export const QUICKJS_INIT = 'agent-init';

/** The wrapper's code (plain JS: it runs inside the engine, after esbuild). */
function wrapperSource(names: readonly string[], engine: Engine): string {
  const qjs = engine === 'quickjs';
  const lines = [
    `import * as user from 'agentos-build:source';`,
    `const MARKER = ${JSON.stringify(CRASH_MARKER)};`,
    `const TAGS = ${JSON.stringify(GUEST_ERROR_TAGS)};`,
    `const own = Object.prototype.hasOwnProperty;`,
    ...(qjs ? QUICKJS_NO_CLOCK : []),
    `const isVariant = (v) => v !== null && typeof v === 'object' && TAGS.includes(v.tag) && typeof v.val === 'string';`,
    // What componentize-js turns into err(...) already: leave it to do so.
    `const isGuestError = (e) => e !== null && typeof e === 'object' &&`,
    `  (own.call(e, 'payload') ? isVariant(e.payload) : !(e instanceof Error) && isVariant(e));`,
    `function text(e) {`,
    `  if (typeof e === 'string') return e;`,
    `  try { const j = JSON.stringify(e); if (j !== undefined) return j; } catch {}`,
    `  try { return String(e); } catch { return '(a value that cannot be shown)'; }`,
    `}`,
    // The guest's frames only: the stack is cut where the wrapper called the export.
    `function frames(stack) {`,
    `  const lines = stack.split('\\n').filter((l) => l !== '');`,
    // SpiderMonkey frames read "f@file:line:col", QuickJS ones "    at f (file:line:col)".
    `  const cut = lines.findIndex((l) => /^(__agentos_call\\d*@|\\s*at __agentos_call\\d*\\b)/.test(l));`,
    `  return (cut >= 0 ? lines.slice(0, cut) : lines).join('\\n');`,
    `}`,
    `function report(where, e) {`,
    `  const r = { export: where };`,
    `  if (e instanceof Error) {`,
    `    r.name = String(e.name || 'Error');`,
    `    r.message = text(e.message);`,
    `    if (typeof e.stack === 'string') r.stack = frames(e.stack);`,
    `  } else {`,
    `    r.name = e === null ? 'null' : typeof e;`,
    `    r.message = text(e);`,
    `  }`,
    `  return MARKER + JSON.stringify(r);`,
    `}`,
    qjs
      ? `const asErr = (t) => { throw { tag: 'invalid', val: t }; };`
      : `const asErr = (t) => ({ tag: 'err', val: { tag: 'invalid', val: t } });`,
    `const asList = (t) => [{ name: MARKER, description: t, inputSchema: '{}' }];`,
    `function caught(where, e, as) { if (isGuestError(e)) throw e; return as(report(where, e)); }`,
    `function __agentos_call(f, args) { return f(...args); }`,
    `function guarded(where, f, args, as, results) {`,
    `  let r;`,
    `  try { r = __agentos_call(f, args); } catch (e) { return caught(where, e, as); }`,
    `  if (r !== null && typeof r === 'object' && typeof r.then === 'function')`,
    qjs
      ? `    return caught(where, new TypeError(where + ' returned a promise: QuickJS exports run synchronously'), as);`
      : `    return r.then(undefined, (e) => caught(where, e, as));`,
    ...(qjs ? QUICKJS_RESULTS : []),
    `  return r;`,
    `}`,
  ];
  for (const name of names) {
    const as = AS_LIST.has(name) ? 'asList' : 'asErr';
    const exported = qjs && name === 'init' ? camel(QUICKJS_INIT) : name;
    const results = qjs && !AS_LIST.has(name) ? 'true' : 'false';
    lines.push(
      `export function ${exported}(...args) { return guarded('${name}', user.${name}, args, ${as}, ${results}); }`,
    );
  }
  return lines.join('\n');
}

/**
 * QuickJS: a returned `{ tag: 'ok' | 'err', val }` (nothing else on it) is the result itself, as
 * componentize-js takes it; an `err` whose value is no error variant is a crash.
 */
const QUICKJS_RESULTS = [
  `  if (results && r !== null && typeof r === 'object' && (r.tag === 'ok' || r.tag === 'err') &&`,
  `      Object.keys(r).every((k) => k === 'tag' || k === 'val')) {`,
  `    if (r.tag === 'ok') return r.val;`,
  `    if (isVariant(r.val)) throw r.val;`,
  `    return caught(where, r.val, as);`,
  `  }`,
];

/**
 * QuickJS: the build stubs WASI, so `Date.now()`, `new Date()` and `performance.now()` reach a
 * stubbed clock and trap, which loses the message. They throw a clear Error instead (a crash
 * report that says what to use), before any export runs. `new Date(value)` still works.
 */
const QUICKJS_NO_CLOCK = [
  `const noClock = (what) => { throw new Error(what + ': a QuickJS component has no clock of its own; use now() from agentos:kernel/clock'); };`,
  `{`,
  `  const D = Date;`,
  `  const now = () => noClock('Date.now()');`,
  `  const Dated = new Proxy(D, {`,
  `    construct(t, args, nt) { if (args.length === 0) noClock('new Date()'); return Reflect.construct(t, args, nt); },`,
  `    apply(t, self, args) { return noClock('Date()'); },`,
  `    get(t, key) { return key === 'now' ? now : Reflect.get(t, key); },`,
  `  });`,
  `  globalThis.Date = Dated;`,
  `  if (typeof globalThis.performance === 'object' && globalThis.performance !== null)`,
  `    try { Object.defineProperty(globalThis.performance, 'now', { value: () => noClock('performance.now()') }); } catch {}`,
  `}`,
];

/** `agent-init` → `agentInit`: the JS name componentize-qjs gives a WIT name. */
const camel = (name: string): string => name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** Serves the bundled source to the wrapper; kernel imports stay external as the bundle has them. */
function sourceOf(bundled: string): Plugin {
  return {
    name: 'agentos-build-source',
    setup(b) {
      b.onResolve({ filter: /^agentos-build:source$/ }, () => ({
        path: 'source',
        namespace: 'agentos-build',
      }));
      b.onLoad({ filter: /.*/, namespace: 'agentos-build' }, () => ({ contents: bundled, loader: 'js' }));
      b.onResolve({ filter: /^agentos:/ }, (args) => ({ path: args.path, external: true }));
    },
  };
}

/** The bundled component source with `names` (its world's exports) wrapped; one ES module. */
export async function wrapExports(
  bundled: string,
  names: readonly string[],
  engine: Engine = 'spidermonkey',
): Promise<string> {
  const out = await build({
    stdin: { contents: wrapperSource(names, engine), loader: 'js', sourcefile: 'agentos-exports.js' },
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
    plugins: [sourceOf(bundled)],
  });
  return out.outputFiles[0]!.text;
}
