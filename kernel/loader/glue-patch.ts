/**
 * Edits to the glue jco generates, applied once when it is cached (loader.ts). Each edit leaves
 * what the glue does unchanged and is skipped when its pattern is absent (another jco).
 *
 * - jco 1.35's glue calls `_debugLog` several times per import call, and each call reads
 *   `globalThis.process.env.JCO_DEBUG` — in Node a lookup in the real environment, which cost a
 *   guest making many small hostcalls ~10 % of its time (measured). The check is hoisted to load
 *   time; setting JCO_DEBUG still turns the glue's logging on, for kernels started with it.
 * - Every instantiation tries `WebAssembly.promising(f)` for each post-return and realloc
 *   function and falls back to `f` in a `catch`. Without JSPI (Node 20) each try throws a
 *   TypeError whose message V8 renders by parsing the whole instantiate function again: ~1 ms a
 *   throw, a third of a warm QuickJS spawn (measured). JSPI is looked up once at load instead,
 *   and the fallback taken without a throw.
 *
 * @example
 * writeFileSync('component.mjs', patchGlue(out.files['component.js']));
 */

/** Bumped when an edit changes, so cached glue is regenerated. */
export const GLUE_PATCH_VERSION = 2;

const CHECK = 'if (!globalThis?.process?.env?.JCO_DEBUG) { return; }';
const DEFINITION = 'const _debugLog = (...args) => {';

/** `try { x = WebAssembly.promising(f); } catch(err) { x = f; }`, as jco 1.35 writes it. */
const PROMISING =
  /try \{\s*([\w$]+) = WebAssembly\.promising\(([^;]+)\);\s*\} catch\s*\(err\) \{\s*\1 = \2;\s*\}/g;

/**
 * What each such try becomes: the same function, looked up once. A `promising` that throws
 * still falls back as before.
 */
const PROMISING_ONCE = `const _jcoPromising = typeof WebAssembly.promising === 'function'
  ? (f) => { try { return WebAssembly.promising(f); } catch { return f; } }
  : (f) => f;
`;

/** The glue with each edit applied. */
export function patchGlue(source: string): string {
  return onePromisingLookup(hoistDebugCheck(source));
}

function hoistDebugCheck(source: string): string {
  const at = source.indexOf(DEFINITION);
  if (at === -1 || !source.includes(CHECK)) return source;
  const hoisted = `const _jcoDebug = Boolean(globalThis?.process?.env?.JCO_DEBUG);\n  ${DEFINITION}`;
  return (source.slice(0, at) + hoisted + source.slice(at + DEFINITION.length)).replaceAll(
    CHECK,
    'if (!_jcoDebug) { return; }',
  );
}

function onePromisingLookup(source: string): string {
  const out = source.replace(PROMISING, (_, name: string, f: string) => `${name} = _jcoPromising(${f});`);
  return out === source ? source : PROMISING_ONCE + out;
}
