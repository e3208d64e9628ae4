import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { inspectComponent } from '../kernel/loader/loader.js';
import { type Manifest, readManifest } from '../kernel/signing/manifest.js';
import { signComponent } from '../kernel/signing/signature.js';
import { codeOf, errorOf } from '../testing/expect-error.js';
import { fixture, openKernel, PROBE_GRANTS, tempHome } from '../testing/harness.js';
import { buildComponent } from './build.js';
import { devKey } from './dev-key.js';

/** A manifest that requests every kernel interface, for sources whose imports are not the point. */
const manifestFor = (world: 'agent' | 'skill', over: Partial<Manifest> = {}): Manifest => ({
  name: 'built',
  version: '0.1.0',
  publisher: 'agentos-dev',
  description: 'built by a test',
  world,
  capabilities: ['log', 'clock', 'random', 'working-memory', 'ipc', 'events'],
  ...over,
});

/** A source file in a fresh dir, with `manifest` as agentos.json beside it (null: none). */
function source(code: string, manifest: Manifest | null = manifestFor('agent')): string {
  const dir = tempHome('agentos-src-');
  const file = join(dir, 'index.ts');
  writeFileSync(file, code);
  if (manifest) writeFileSync(join(dir, 'agentos.json'), JSON.stringify(manifest));
  return file;
}

describe('agentos build', () => {
  it('builds a component that imports exactly the interfaces its source uses', async () => {
    const src = source(
      `
      import { write } from 'agentos:kernel/log';
      import { now } from 'agentos:kernel/clock@0.1.0';
      export function describe() { return [{ name: 'now', description: 'the time', inputSchema: '{}' }]; }
      export function invoke(tool: string, args: string): string { write('info', tool, args); return String(now()); }
    `,
      manifestFor('skill', { capabilities: ['log', 'clock'] }),
    );
    const out = join(tempHome(), 'skill.wasm');
    const r = await buildComponent(src, { world: 'skill', out });
    // The manifest beside the source is embedded.
    expect(readManifest(readFileSync(out), out)).toEqual(
      manifestFor('skill', { capabilities: ['log', 'clock'] }),
    );
    // Signed as `agentos sign` does, so the kernel's default policy loads it.
    writeFileSync(out, signComponent(readFileSync(out), devKey(), out));
    expect(r.imports).toEqual(['agentos:kernel/clock@0.1.0', 'agentos:kernel/log@0.1.0']);
    const info = await inspectComponent(readFileSync(out), out);
    expect(info).toMatchObject({ world: 'skill' });
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
    // Building (~20 s) and metering a fresh component (~5 s, 25 s and more on a loaded machine).
  }, 240_000);

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

  it('refuses a source with no manifest, a manifest of another world, and an import it does not request', async () => {
    const agent = 'export function init() {}\nexport function handle() { return "1"; }';
    expect(await codeOf(buildComponent(source(agent, null), { out: '/tmp/never.wasm' }))).toMatch(
      /^AOS_E_BAD_MANIFEST: no manifest for .*index.ts: write agentos.json beside it/,
    );
    expect(
      await codeOf(
        buildComponent(source(agent, manifestFor('skill')), { world: 'agent', out: '/tmp/never.wasm' }),
      ),
    ).toMatch(/^AOS_E_BAD_MANIFEST: .*agentos.json says world skill, but the build asks for agent/);
    const logs = `import { write } from 'agentos:kernel/log';\nexport function init() { write('info', 'a', 'b'); }\nexport function handle() { return "1"; }`;
    expect(
      await codeOf(
        buildComponent(source(logs, manifestFor('agent', { capabilities: ['clock'] })), {
          out: '/tmp/never.wasm',
        }),
      ),
    ).toMatch(
      /^AOS_E_IMPORT_NOT_REQUESTED: .*imports agentos:kernel\/log@0.1.0, but its manifest does not request log/,
    );
    expect(
      await codeOf(
        buildComponent(source(agent, { ...manifestFor('agent'), version: 'one' }), {
          out: '/tmp/never.wasm',
        }),
      ),
    ).toMatch(/^AOS_E_BAD_MANIFEST: .*version "one" is not semver/);
  });

  it("reads the manifest from package.json's agentos field", async () => {
    const src = source('export function init() {}\nexport function handle() { return "1"; }', null);
    const pkg = join(src, '..', 'package.json');
    writeFileSync(
      pkg,
      JSON.stringify({ name: 'x', agentos: manifestFor('agent', { name: 'from-package' }) }),
    );
    const out = join(tempHome(), 'a.wasm');
    const r = await buildComponent(src, { out });
    expect(r.manifest).toBe(pkg);
    expect(readManifest(readFileSync(out), out)?.name).toBe('from-package');
    writeFileSync(pkg, '{ not json');
    expect(await codeOf(buildComponent(src, { out }))).toMatch(
      /^AOS_E_BAD_MANIFEST: .*package.json is not valid JSON/,
    );
  }, 240_000);

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

/** A SpiderMonkey stack line: `function@file:line:column`. */
const STACK_LINE = /\n {4}\S*@\S+:\d+:\d+/;

describe("exceptions escaping a built component's exports", () => {
  /** One delivery per message: a crash is reported once. */
  const ONCE = { delivery: { attempts: 1 } };

  it('reports an Error thrown by handle with its message and stack, and discards the instance', async () => {
    const kernel = await openKernel(ONCE);
    const id = await kernel.spawn(await fixture('probe'), { grants: PROBE_GRANTS });
    expect(await kernel.send(id, { op: 'state' })).toEqual({ handled: 1 });
    const e = await errorOf(kernel.send(id, { op: 'trap' }));
    expect(e.code).toBe('AOS_E_AGENT_CRASHED');
    expect(e.message).toMatch(/^probe-[\w-]+ crashed: Error: probe was asked to trap\n {4}handle@/);
    expect(e.message).toMatch(STACK_LINE);
    expect(e.message).not.toMatch(/unreachable/);
    // Discarded as for a trap: the next message meets a new instance, its heap rebuilt from the
    // journal (the call that returned counts, the one that threw does not).
    expect(await kernel.send(id, { op: 'state' })).toEqual({ handled: 2 });
    expect(kernel.inspect(id)).toMatchObject({ generation: 2, stats: { crashes: 1 } });
    const [letter] = await kernel.deadLetters(id);
    expect(letter!.reason).toMatch(/Error: probe was asked to trap/);
  });

  it('reports the innermost frame of a nested throw, and an engine TypeError', async () => {
    const kernel = await openKernel(ONCE);
    const id = await kernel.spawn(await fixture('thrower'));
    const nested = await errorOf(kernel.send(id, { throw: 'error' }));
    expect(nested.code).toBe('AOS_E_AGENT_CRASHED');
    expect(nested.message).toMatch(
      /crashed: Error: thrower was asked to throw an error\n {4}nested@\S+:\d+:\d+\n {4}handle@/,
    );
    const typeError = await errorOf(kernel.send(id, { throw: 'type-error' }));
    expect(typeError.message).toMatch(/crashed: TypeError: .*undefined/);
    expect(typeError.message).toMatch(STACK_LINE);
  });

  it('reports thrown values that are not Errors, and a rejected promise', async () => {
    const kernel = await openKernel(ONCE);
    const id = await kernel.spawn(await fixture('thrower'));
    const cases: [string, RegExp][] = [
      ['string', /crashed: thrown string: a plain string;/],
      ['object', /crashed: thrown object: \{"reason":"an object","n":7\};/],
      ['number', /crashed: thrown number: 42;/],
      ['null', /crashed: thrown null: null;/],
      ['async', /crashed: RangeError: rejected later\n {4}handle@/],
    ];
    for (const [what, expected] of cases) {
      const e = await errorOf(kernel.send(id, { throw: what }));
      expect(e.code, what).toBe('AOS_E_AGENT_CRASHED');
      expect(e.message, what).toMatch(expected);
    }
    expect(kernel.inspect(id).stats.crashes).toBe(cases.length);
  });

  it('leaves guest errors as they were: a thrown error variant and a returned err', async () => {
    const kernel = await openKernel(ONCE);
    const thrower = await kernel.spawn(await fixture('thrower'));
    const thrown = await errorOf(kernel.send(thrower, { throw: 'variant' }));
    expect(thrown).toMatchObject({
      code: 'AOS_E_AGENT_ERROR',
      details: { tag: 'denied', reason: 'thrown as a guest error' },
    });
    const probe = await kernel.spawn(await fixture('probe'), { grants: PROBE_GRANTS });
    const returned = await errorOf(kernel.send(probe, { op: 'fail', reason: 'no' }));
    expect(returned).toMatchObject({ code: 'AOS_E_AGENT_ERROR', details: { tag: 'denied', reason: 'no' } });
    // Neither discarded its instance.
    expect(kernel.inspect(thrower)).toMatchObject({ generation: 1, stats: { crashes: 0 } });
    expect(await kernel.send(thrower, { hello: 1 })).toEqual({ hello: 1 });
  });

  it('reports init throwing when the agent starts', async () => {
    const kernel = await openKernel(ONCE);
    const e = await errorOf(
      kernel.spawn(await fixture('thrower'), { config: { throwInit: 'no config for you' } }),
    );
    expect(e.code).toBe('AOS_E_AGENT_CRASHED');
    expect(e.message).toMatch(/crashed starting: Error: no config for you\n {4}init@/);
  });

  it("reports a skill's describe and invoke throwing; the skill answers the next call", async () => {
    const kernel = await openKernel(ONCE);
    const id = await kernel.spawn(await fixture('thrower-skill'));
    const d = await errorOf(kernel.describe(id));
    expect(d.code).toBe('AOS_E_AGENT_CRASHED');
    expect(d.message).toMatch(/crashed: Error: describe was asked to throw\n {4}describe@/);
    const i = await errorOf(kernel.invoke(id, 'throw', {}));
    expect(i.message).toMatch(/crashed: Error: tool throw threw\n {4}invoke@/);
    expect(await kernel.invoke(id, 'fine', {})).toEqual({ ok: true });
  });
});
