import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AgentOSError, ERROR_CODES, GuestError } from './errors.js';
import { packageRoot } from './paths.js';

describe('error codes', () => {
  it('documents every code in docs/errors.md, and documents no code that does not exist', () => {
    const doc = readFileSync(join(packageRoot(), 'docs', 'errors.md'), 'utf8');
    for (const code of Object.keys(ERROR_CODES))
      expect(doc, `${code} missing from docs/errors.md`).toContain(`\`${code}\``);
    const documented = new Set(doc.match(/AOS_E_[A-Z_]+/g));
    expect([...documented].filter((c) => !(c in ERROR_CODES))).toEqual([]);
  });

  it('uses code references that exist, across the source tree', () => {
    const used = new Set<string>();
    for (const file of [
      'kernel/kernel.ts',
      'kernel/executor.ts',
      'kernel/loader.ts',
      'kernel/linker.ts',
      'toolchain/build.ts',
      'toolchain/cli.ts',
    ]) {
      for (const m of readFileSync(join(packageRoot(), file), 'utf8').matchAll(/'(AOS_E_[A-Z_]+)'/g))
        used.add(m[1]!);
    }
    for (const code of used) expect(ERROR_CODES).toHaveProperty(code);
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
