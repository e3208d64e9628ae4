import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AgentOSError, ERROR_CODES, GuestError } from './errors.js';
import { packageRoot } from './paths.js';

/** The project's own text files (no build output, no dependencies). */
function textFiles(): string[] {
  const out: string[] = [join(packageRoot(), 'README.md')];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.name.startsWith('.') || e.name === 'node_modules' || e.name === 'dist') continue;
      const path = join(dir, e.name);
      if (e.isDirectory()) walk(path);
      else if (/\.(ts|md|wit|wat|inc)$/.test(e.name)) out.push(path);
    }
  };
  for (const dir of [
    'kernel',
    'hostcalls',
    'testing',
    'examples',
    'toolchain',
    'bench',
    'conformance',
    'gpu',
    'components',
    'docs',
    'wit',
  ])
    walk(join(packageRoot(), dir));
  return out;
}

describe('error codes', () => {
  it('documents every code in docs/errors.md, and documents no code that does not exist', () => {
    const doc = readFileSync(join(packageRoot(), 'docs', 'errors.md'), 'utf8');
    for (const code of Object.keys(ERROR_CODES))
      expect(doc, `${code} missing from docs/errors.md`).toContain(`\`${code}\``);
    const documented = new Set(doc.match(/AOS_E_[A-Z_]+/g));
    expect([...documented].filter((c) => !(c in ERROR_CODES))).toEqual([]);
  });

  // The type checker already holds every code passed as an ErrorCode; this catches the ones it
  // cannot see: in comments, docs, regexes and strings compared loosely.
  it('names no code that does not exist, in any source, doc or WIT file', () => {
    const placeholders = new Set(['AOS_E_X', 'AOS_E_CODE']);
    const unknown: string[] = [];
    for (const file of textFiles()) {
      for (const [code] of readFileSync(file, 'utf8').matchAll(/AOS_E_[A-Z_]*[A-Z]/g))
        if (!(code in ERROR_CODES) && !placeholders.has(code))
          unknown.push(`${relative(packageRoot(), file)}: ${code}`);
    }
    expect(unknown).toEqual([]);
  });

  it('formats as CODE: message and serialises to JSON', () => {
    const e = new AgentOSError('AOS_E_AGENT_NOT_FOUND', 'no agent "x"', { agent: 'x' });
    expect(String(e)).toBe('AOS_E_AGENT_NOT_FOUND: no agent "x"');
    expect(JSON.parse(JSON.stringify(e))).toEqual({
      code: 'AOS_E_AGENT_NOT_FOUND',
      message: 'no agent "x"',
      details: { agent: 'x' },
    });
    expect(e.hint).toBe(ERROR_CODES.AOS_E_AGENT_NOT_FOUND);
  });

  it('carries a guest error tag', () => {
    expect(new GuestError('invalid', 'bad key')).toMatchObject({ tag: 'invalid', message: 'bad key' });
  });
});
