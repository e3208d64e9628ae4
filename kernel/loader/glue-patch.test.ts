import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixture, sample, TEST_CACHE_DIR, tempHome } from '../../testing/harness.js';
import { patchGlue } from './glue-patch.js';
import { Loader, sha256 } from './loader.js';

const GLUE = `
  const _debugLog = (...args) => {
    if (!globalThis?.process?.env?.JCO_DEBUG) { return; }
    console.debug(...args);
  };
  function f() { _debugLog('[f()] args', { a: 1 }); return 1; }
  export { f };
`;

async function load<T = { f(): number }>(source: string): Promise<T> {
  return import(`data:text/javascript,${encodeURIComponent(source)}`) as Promise<T>;
}

type Takes = { f(g: unknown): unknown };

describe('patchGlue', () => {
  it('hoists the debug check to load time and leaves the rest alone', async () => {
    const out = patchGlue(GLUE);
    expect(out).not.toContain('process?.env?.JCO_DEBUG) { return; }');
    expect(out.match(/process\?\.env\?\.JCO_DEBUG/g)).toHaveLength(1);
    expect(out).toContain("function f() { _debugLog('[f()] args', { a: 1 }); return 1; }");
    const env = process.env.JCO_DEBUG;
    delete process.env.JCO_DEBUG;
    try {
      expect((await load(out)).f()).toBe(1);
    } finally {
      if (env !== undefined) process.env.JCO_DEBUG = env;
    }
  });

  it('still logs when JCO_DEBUG is set as the glue loads', async () => {
    const logged: unknown[] = [];
    const debug = console.debug;
    console.debug = (...args: unknown[]) => logged.push(args[0]);
    process.env.JCO_DEBUG = '1';
    try {
      (await load(`${patchGlue(GLUE)}\n// debug`)).f();
    } finally {
      delete process.env.JCO_DEBUG;
      console.debug = debug;
    }
    expect(logged).toEqual(['[f()] args']);
  });

  it('returns glue without the check unchanged', () => {
    const other = 'const _debugLog = () => {};\nexport const x = 1;';
    expect(patchGlue(other)).toBe(other);
  });

  it('looks JSPI up once, and takes the same fallback without a throw', async () => {
    const glue = `
      let a; let b;
      export function f(g) {
        try {
          a = WebAssembly.promising(g);
        } catch(err) {
          a = g;
        }
        try {
          b = WebAssembly.promising(g['x-y']);
        } catch(err) {
          b = g['x-y'];
        }
        return [a, b];
      }`;
    const out = patchGlue(glue);
    expect(out).not.toContain('WebAssembly.promising(g');
    expect(out).toContain("b = _jcoPromising(g['x-y']);");
    const g = Object.assign(() => 1, { 'x-y': () => 2 });
    const wasm = WebAssembly as { promising?: unknown };
    const had = wasm.promising;
    try {
      delete wasm.promising;
      const [a, b] = (await load<Takes>(`${out}\n// absent`)).f(g) as [unknown, unknown];
      expect([a, b]).toEqual([g, g['x-y']]);
      // With JSPI, what promising gives; a promising that throws still falls back.
      wasm.promising = (f: unknown) =>
        f === g
          ? 'wrapped'
          : (() => {
              throw new TypeError('no');
            })();
      expect((await load<Takes>(`${out}\n// present`)).f(g)).toEqual(['wrapped', g['x-y']]);
    } finally {
      if (had === undefined) delete wasm.promising;
      else wasm.promising = had;
    }
  });

  it('finds every edit in the glue jco writes for both JS engines', async () => {
    const loader = new Loader(tempHome(), TEST_CACHE_DIR);
    for (const path of [await sample('echo'), await fixture('echo-sm')]) {
      const bytes = readFileSync(path);
      const glue = readFileSync(join(await loader.transpiled(sha256(bytes), bytes), 'component.mjs'), 'utf8');
      expect(glue).toContain('_jcoPromising(');
      expect(glue).not.toMatch(/=\s*WebAssembly\.promising\(/);
      expect(glue).toContain('if (!_jcoDebug) { return; }');
      expect(glue).not.toContain('process?.env?.JCO_DEBUG) { return; }');
    }
  }, 120_000);
});
