import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { inspectComponent } from '../kernel/loader.js';
import { codeOf } from '../kernel/testing/expect-error.js';
import { openKernel, tempHome } from '../kernel/testing/harness.js';
import { buildComponent } from './build.js';

function source(code: string): string {
  const file = join(tempHome('agentos-src-'), 'index.ts');
  writeFileSync(file, code);
  return file;
}

describe('agentos build', () => {
  it('builds a component that imports exactly the interfaces its source uses', async () => {
    const src = source(`
      import { write } from 'agentos:kernel/log';
      import { now } from 'agentos:kernel/clock@0.1.0';
      export function describe() { return [{ name: 'now', description: 'the time', inputSchema: '{}' }]; }
      export function invoke(tool: string, args: string): string { write('info', tool, args); return String(now()); }
    `);
    const out = join(tempHome(), 'skill.wasm');
    const r = await buildComponent(src, { world: 'skill', out });
    expect(r.imports).toEqual(['agentos:kernel/clock@0.1.0', 'agentos:kernel/log@0.1.0']);
    const info = await inspectComponent(readFileSync(out), out);
    expect(info).toMatchObject({ world: 'skill', digest: r.digest, size: r.size });
    expect(info.imports.sort()).toEqual([
      'agentos:kernel/clock@0.1.0',
      'agentos:kernel/log@0.1.0',
      'agentos:kernel/types@0.1.0',
    ]);
    // And the kernel runs it.
    const kernel = await openKernel();
    try {
      const id = await kernel.spawn(out, { grants: ['log', 'clock'] });
      expect(await kernel.describe(id)).toEqual([{ name: 'now', description: 'the time', inputSchema: {} }]);
      expect(typeof (await kernel.invoke(id, 'now', {}))).toBe('number');
    } finally {
      await kernel.close();
    }
  });

  it('refuses a source that misses an export of its world', async () => {
    const src = source('export function handle(m: { body: string }) { return m.body; }');
    expect(await codeOf(buildComponent(src, { world: 'agent', out: '/tmp/never.wasm' }))).toMatch(
      /^AOS_E_BAD_SOURCE: .*index.ts does not export init; the agent world needs init and handle/,
    );
  });

  it('refuses an import of an interface the kernel does not have', async () => {
    const src = source(
      `import { open } from 'agentos:kernel/filesystem';\nexport const init = () => {}; export const handle = () => open();`,
    );
    expect(await codeOf(buildComponent(src, { world: 'agent', out: '/tmp/never.wasm' }))).toMatch(
      /^AOS_E_BUILD_FAILED: bundling .* failed: .*index.ts:1:\d+: "agentos:kernel\/filesystem" is not an interface of agentos:kernel@0.1.0/,
    );
  });

  it('reports a syntax error with its location', async () => {
    const src = source('export function init() {}\nexport function handle( {');
    expect(await codeOf(buildComponent(src, { world: 'agent', out: '/tmp/never.wasm' }))).toMatch(
      /^AOS_E_BUILD_FAILED: bundling .*index.ts:2:\d+: /,
    );
  });

  it('reports an exception thrown while the component initialises', async () => {
    const src = source(
      'throw new Error("bad top level");\nexport function init() {}\nexport function handle() { return "1"; }',
    );
    expect(await codeOf(buildComponent(src, { world: 'agent', out: '/tmp/never.wasm' }))).toMatch(
      /^AOS_E_BUILD_FAILED: componentizing .*bad top level/,
    );
  });

  it('refuses a missing source file and an unknown world', async () => {
    expect(await codeOf(buildComponent('/no/such.ts', { world: 'agent', out: '/tmp/x.wasm' }))).toMatch(
      /^AOS_E_BAD_ARGUMENT: no source file/,
    );
    const src = source('export const x = 1;');
    expect(await codeOf(buildComponent(src, { world: 'daemon' as 'agent', out: '/tmp/x.wasm' }))).toMatch(
      /^AOS_E_BAD_ARGUMENT: --world/,
    );
  });
});
