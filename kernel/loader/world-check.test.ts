import { readFileSync } from 'node:fs';
import { componentWit } from '@bytecodealliance/jco';
import { describe, expect, it } from 'vitest';
import { fixture } from '../../testing/harness.js';
import { readWit } from './wit-text.js';
import { checkExports, REVEALED_TYPES, revealKernelTypes } from './world-check.js';

/** A component's WIT as wasm-tools prints it, with the kernel's types revealed. */
const KERNEL_TYPES = `interface ${REVEALED_TYPES} {
  variant error { not-found(string), denied(string), quota-exceeded(string), timed-out(string), unavailable(string), invalid(string), }
  type json = string;
  type agent-id = string;
  record message { id: u64, kind: string, sender: option<agent-id>, body: json, sent-at: u64, }
  type outcome = json;
  record tool-descriptor { name: string, description: string, input-schema: json, output-schema: option<json>, }
}`;

function printed(...items: string[]): string {
  return `package root:component;\n\n${KERNEL_TYPES}\n\nworld root {\n  import ${REVEALED_TYPES};\n  use ${REVEALED_TYPES}.{error, json, message, outcome, tool-descriptor};\n${items.map((i) => `  ${i}\n`).join('')}}\n`;
}

const INIT = 'export init: func(config: json) -> result<_, error>;';
const HANDLE = 'export handle: func(message: message) -> result<outcome, error>;';

describe('checkExports', () => {
  it('recognises the agent and skill worlds', () => {
    expect(checkExports(printed(INIT, HANDLE))).toEqual({ world: 'agent', problems: [] });
    expect(
      checkExports(
        printed(
          'export describe: func() -> list<tool-descriptor>;',
          'export invoke: func(tool: string, args: json) -> result<json, error>;',
        ),
      ),
    ).toEqual({ world: 'skill', problems: [] });
  });

  it('compares structure: aliases expand, parameter names do not matter', () => {
    const r = checkExports(
      printed(
        'export init: func(cfg: string) -> result<_, error>;',
        'export handle: func(m: message) -> result<string, error>;',
      ),
    );
    expect(r).toEqual({ world: 'agent', problems: [] });
  });

  it('names each export that does not fit, with both signatures', () => {
    const r = checkExports(
      printed('export init: func(config: json);', 'export handle: func(x: u32) -> u32;'),
    );
    expect(r.world).toBe('unknown');
    expect(r.problems).toEqual([
      'exports init: func(config: json), but the agent world has init: func(config: json) -> result<_, error>',
      'exports handle: func(x: u32) -> u32, but the agent world has handle: func(message: message) -> result<outcome, error>',
    ]);
  });

  it('reports missing, extra and non-function exports, and names that fit no world', () => {
    expect(checkExports(printed(HANDLE, 'export extra: func();')).problems).toEqual([
      'does not export init; the agent world has init: func(config: json) -> result<_, error>',
      'also exports extra, which the agent world does not have',
    ]);
    expect(checkExports(printed(INIT, 'export handle: interface { f: func(); }')).problems).toEqual([
      'exports handle as something other than a function; the agent world has handle: func(message: message) -> result<outcome, error>',
    ]);
    expect(checkExports(printed('export run: func();')).problems).toEqual([
      'exports run; an agent exports init and handle, a skill describe and invoke',
    ]);
    expect(checkExports(printed()).problems).toEqual([
      'exports nothing; an agent exports init and handle, a skill describe and invoke',
    ]);
  });

  it("takes the kernel's types on their names only where they were not printed", () => {
    const named = (from: string): string =>
      `package root:component;\n\nworld root {\n  import ${from};\n  use ${from}.{error, json, message, outcome};\n  ${INIT}\n  ${HANDLE}\n}\n`;
    expect(checkExports(named('agentos:kernel/types@0.1.0')).world).toBe('agent');
    expect(checkExports(named(`root:component/${REVEALED_TYPES}`)).world).toBe('agent');
    expect(checkExports(named('example:other/types@0.1.0')).world).toBe('unknown');
  });

  it('catches a record that differs behind the same name', () => {
    const tampered = printed(INIT, HANDLE).replace('sent-at: u64, }', '}');
    const r = checkExports(tampered);
    expect(r.world).toBe('unknown');
    expect(r.problems[0]).toContain('the same names, other types');
  });

  it('refuses, without overflowing, types nested past what it reads, and WIT it cannot read', () => {
    const deep = `${'list<'.repeat(10_000)}u8${'>'.repeat(10_000)}`;
    const r = checkExports(printed(INIT, `export handle: func(message: ${deep}) -> result<outcome, error>;`));
    expect(r.world).toBe('unknown');
    expect(r.problems[0]).toMatch(/cannot read/);
    expect(readWit('world w { export f: func(; }')).toBeNull();
  });
});

describe('revealKernelTypes', () => {
  it('renames the types import in place, so its structure is printed', async () => {
    const bytes = readFileSync(await fixture('echo-wat'));
    const renamed = revealKernelTypes(bytes)!;
    expect(renamed).toHaveLength(bytes.length);
    const wit = await componentWit(renamed);
    expect(wit).toContain(`interface ${REVEALED_TYPES} {`);
    expect(wit).toMatch(/record message \{[^}]*sent-at: u64,/);
    // A component that imports nothing of the kernel's has nothing to rename.
    expect(revealKernelTypes(readFileSync(await fixture('echo-own-types')))).toBeNull();
  });
});
