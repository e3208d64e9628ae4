import { describe, expect, it } from 'vitest';
import { patchGlue } from './glue-patch.js';

const GLUE = `
  const _debugLog = (...args) => {
    if (!globalThis?.process?.env?.JCO_DEBUG) { return; }
    console.debug(...args);
  };
  function f() { _debugLog('[f()] args', { a: 1 }); return 1; }
  export { f };
`;

async function load(source: string): Promise<{ f(): number }> {
  return import(`data:text/javascript,${encodeURIComponent(source)}`) as Promise<{ f(): number }>;
}

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
});
