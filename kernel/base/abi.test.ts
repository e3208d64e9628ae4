import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultCapabilities as CAPABILITIES } from '../../hostcalls/index.js';
import { ABI_VERSION, jsName, parseImportName, WIT_INTERFACES } from './abi.js';
import { GUEST_ERROR_TAGS } from './errors.js';
import { witDir } from './paths.js';

const files = readdirSync(witDir()).filter((f) => f.endsWith('.wit'));
const wit = files.map((f) => readFileSync(join(witDir(), f), 'utf8'));

/** Interface name → its function names, read from the WIT text. */
function witFunctions(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const text of wit) {
    for (const m of text.matchAll(/^interface ([a-z-]+) \{([\s\S]*?)^\}/gm)) {
      const fns = [...m[2]!.matchAll(/^ {2}%?([a-z0-9-]+): func\(/gm)].map((f) => f[1]!);
      out.set(m[1]!, fns);
    }
  }
  return out;
}

describe('the agentos:kernel WIT package', () => {
  it('declares one package version everywhere', () => {
    for (const text of wit)
      expect(text).toMatch(new RegExp(`^package agentos:kernel@${ABI_VERSION.replace(/\./g, '\\.')};`, 'm'));
  });

  it('has exactly the interfaces the kernel knows', () => {
    expect([...witFunctions().keys()].sort()).toEqual([...WIT_INTERFACES].sort());
  });

  it('uses no resource types (snapshots must stay possible)', () => {
    for (const text of wit) expect(text).not.toMatch(/\bresource\b|\bown<|\bborrow</);
  });

  it('defines the error variant with the six tags', () => {
    const types = wit.find((t) => t.includes('interface types'))!;
    const variant = /variant error \{([\s\S]*?)\}/.exec(types)![1]!;
    const tags = [...variant.matchAll(/^\s+([a-z-]+)\(string\)/gm)].map((m) => m[1]);
    expect(tags).toEqual([...GUEST_ERROR_TAGS]);
    expect(tags).toHaveLength(6);
  });

  it('matches every provided capability function for function with its WIT interface', () => {
    const fns = witFunctions();
    for (const cap of CAPABILITIES) {
      expect(Object.keys(cap.functions), cap.name).toEqual(fns.get(cap.name));
    }
  });

  it('names things the way jco does', () => {
    expect(jsName('next-u64')).toBe('nextU64');
    expect(jsName('monotonic')).toBe('monotonic');
    expect(parseImportName('agentos:kernel/log@0.1.0')).toEqual({
      pkg: 'agentos:kernel',
      iface: 'log',
      version: '0.1.0',
    });
    expect(parseImportName('nonsense')).toBeNull();
  });
});
