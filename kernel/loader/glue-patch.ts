/**
 * Edits to the glue jco generates, applied once when it is cached (loader.ts).
 *
 * jco 1.35's glue calls `_debugLog` several times per import call, and each call reads
 * `globalThis.process.env.JCO_DEBUG` — in Node a lookup in the real environment, which cost a
 * guest making many small hostcalls ~10 % of its time (measured). The check is hoisted to load
 * time; setting JCO_DEBUG still turns the glue's logging on, for kernels started with it.
 *
 * @example
 * writeFileSync('component.mjs', patchGlue(out.files['component.js']));
 */

/** Bumped when an edit changes, so cached glue is regenerated. */
export const GLUE_PATCH_VERSION = 1;

const CHECK = 'if (!globalThis?.process?.env?.JCO_DEBUG) { return; }';
const DEFINITION = 'const _debugLog = (...args) => {';

/** The glue with its debug check hoisted; unchanged when it has no such check (another jco). */
export function patchGlue(source: string): string {
  const at = source.indexOf(DEFINITION);
  if (at === -1 || !source.includes(CHECK)) return source;
  const hoisted = `const _jcoDebug = Boolean(globalThis?.process?.env?.JCO_DEBUG);\n  ${DEFINITION}`;
  return (source.slice(0, at) + hoisted + source.slice(at + DEFINITION.length)).replaceAll(
    CHECK,
    'if (!_jcoDebug) { return; }',
  );
}
