import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from '@bytecodealliance/jco';
import { describe, expect, it } from 'vitest';
import { fixture, sample, tempHome } from '../../testing/harness.js';
import { AgentOSError } from '../base/errors.js';
import { SIGNATURE_SECTION } from '../signing/format.js';
import { generateKeyPair } from '../signing/keys.js';
import { readManifest, withManifest } from '../signing/manifest.js';
import { withoutCustomSections } from '../signing/sections.js';
import { signComponent } from '../signing/signature.js';
import { inspectComponent, Loader, sha256 } from './loader.js';

/** The transpiled-component entries of a cache dir. */
const transpiledDirs = (home: string): string[] =>
  readdirSync(join(home, 'cache')).filter((n) => n.includes('-jco'));

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(AgentOSError);
    return `${(e as AgentOSError).code}: ${(e as AgentOSError).message}`;
  }
  throw new Error('expected a rejection');
}

describe('inspectComponent', () => {
  it('reads the world, imports, exports, size and digest of a built component', async () => {
    const bytes = readFileSync(await sample('counter'));
    const info = await inspectComponent(bytes, 'counter.wasm');
    expect(info.world).toBe('agent');
    expect(info.imports).toEqual([
      'agentos:kernel/log@0.1.0',
      'agentos:kernel/types@0.1.0',
      'agentos:kernel/working-memory@0.1.0',
    ]);
    expect(info.exports.map((e) => e.name)).toEqual(['init', 'handle']);
    expect(info.exports[1]!.signature).toContain('handle: func(message: message) -> result<outcome, error>');
    expect(info.size).toBe(bytes.length);
    expect(info.digest).toMatch(/^[0-9a-f]{64}$/);
  });

  it('recognises a skill', async () => {
    const info = await inspectComponent(readFileSync(await sample('text-stats')), 'text-stats.wasm');
    expect(info.world).toBe('skill');
    expect(info.imports).toEqual(['agentos:kernel/types@0.1.0']);
  });

  it('refuses random bytes', async () => {
    expect(await code(inspectComponent(randomBytes(4096), 'noise.bin'))).toMatch(
      /^AOS_E_NOT_WASM: noise.bin is not WebAssembly/,
    );
  });

  it('refuses an empty file and a cut header', async () => {
    expect(await code(inspectComponent(new Uint8Array(0), 'empty.wasm'))).toMatch(/^AOS_E_NOT_WASM/);
    expect(await code(inspectComponent(new Uint8Array([0, 0x61, 0x73]), 'cut.wasm'))).toMatch(
      /^AOS_E_TRUNCATED: cut.wasm ends after 3 bytes/,
    );
  });

  it('refuses a truncated component, naming the section', async () => {
    const bytes = readFileSync(await sample('echo'));
    const msg = await code(inspectComponent(bytes.subarray(0, Math.floor(bytes.length / 2)), 'half.wasm'));
    expect(msg).toMatch(/^AOS_E_TRUNCATED: half.wasm is truncated: section \d+ \(id \d+\) needs \d+ bytes/);
  });

  it('refuses a core module, saying it is not a component', async () => {
    const core = await parse('(module (func (export "run")))');
    expect(await code(inspectComponent(core, 'core.wasm'))).toMatch(
      /^AOS_E_NOT_COMPONENT: core.wasm is a core WebAssembly module/,
    );
  });

  it('refuses a component whose sections are garbage', async () => {
    // A component preamble, then a well-framed section full of noise.
    const bad = new Uint8Array([0, 0x61, 0x73, 0x6d, 0x0d, 0, 1, 0, 7, 5, 0xff, 0xff, 0xff, 0xff, 0xff]);
    expect(await code(inspectComponent(bad, 'bad.wasm'))).toMatch(
      /^AOS_E_MALFORMED_COMPONENT: bad.wasm does not parse/,
    );
  });

  it("takes a component for an agent or a skill only if its exports have the world's types", async () => {
    const wrong = await inspectComponent(readFileSync(await fixture('wrong-handle')), 'w.wasm');
    expect(wrong.world).toBe('unknown');
    expect(wrong.exports.map((e) => e.name)).toEqual(['init', 'handle']);
    expect(wrong.exportProblems).toEqual([
      'exports handle: func(x: u32) -> u32, but the agent world has handle: func(message: message) -> result<outcome, error>',
    ]);
    // Types declared by the component itself, with the same structure: json is string.
    const own = await inspectComponent(readFileSync(await fixture('echo-own-types')), 'own.wasm');
    expect(own).toMatchObject({ world: 'agent', exportProblems: [], imports: [] });
    expect(own.exports[1]!.signature).toBe('handle: func(message: message) -> result<string, error>');
  });

  it("checks the structure of the kernel's types, not their names", async () => {
    // Built against a copy of the ABI whose message has no sent-at: the same WIT names.
    const bytes = readFileSync(await fixture('short-message'));
    const before = Buffer.from(bytes);
    const info = await inspectComponent(bytes, 's.wasm');
    expect(bytes.equals(before)).toBe(true);
    expect(info.world).toBe('unknown');
    expect(info.exports[1]!.signature).toBe('handle: func(message: message) -> result<outcome, error>');
    expect(info.exportProblems).toHaveLength(1);
    expect(info.exportProblems[0]).toMatch(
      /^exports handle: func\(message: message\) -> result<outcome, error>, but the agent world has handle: func\(message: message\) -> result<outcome, error>; the same names, other types: message is record\{id:u64,kind:string,sender:option<string>,body:string\} here, record\{id:u64,kind:string,sender:option<string>,body:string,sent-at:u64\} in the agent world$/,
    );
    // What inspect shows is still the component's own WIT, naming the kernel's package.
    expect(info.wit).toContain('use agentos:kernel/types@0.1.0.{error, json, message, outcome};');
    expect(info.imports).toEqual(['agentos:kernel/types@0.1.0']);
  });

  it('reports an import from outside the kernel package', async () => {
    const info = await inspectComponent(readFileSync(await fixture('unknown-import')), 'u.wasm');
    expect(info.imports).toContain('example:evil/net@1.0.0');
  });
});

describe('Loader', () => {
  it('transpiles once per digest and reuses the cached glue', async () => {
    const home = tempHome();
    const bytes = readFileSync(await fixture('echo-wat'));
    const info = await inspectComponent(bytes, 'echo');
    const first = new Loader(home);
    const loaded = await first.load(info, bytes);
    expect(Object.keys(loaded.modules).length).toBeGreaterThan(0);
    const dir = join(home, 'cache', transpiledDirs(home)[0]!);
    const mtime = statSync(join(dir, 'meta.json')).mtimeMs;
    // A second loader (a restarted kernel) finds the glue in the cache.
    const again = await new Loader(home).load(info, bytes);
    expect(again.glueUrl).toBe(loaded.glueUrl);
    expect(statSync(join(dir, 'meta.json')).mtimeMs).toBe(mtime);
    // The same loader hands out the same compiled modules.
    expect((await first.load(info, bytes)).modules).toBe(loaded.modules);
  });

  it('reuses the metered modules for the same code signed again or with another manifest', async () => {
    const home = tempHome();
    const bytes = readFileSync(await fixture('echo-wat'));
    const loader = new Loader(home);
    await loader.load(await inspectComponent(bytes, 'echo'), bytes);
    const [dir] = transpiledDirs(home);
    const resigned = signComponent(
      withoutCustomSections(bytes, [SIGNATURE_SECTION], 'e'),
      generateKeyPair(),
      'e',
    );
    const manifest = readManifest(bytes, 'echo')!;
    const renamed = withManifest(bytes, { ...manifest, version: '9.9.9' }, 'echo');
    for (const other of [resigned, renamed]) {
      const info = await inspectComponent(other, 'other');
      expect(info.digest).not.toBe(sha256(bytes));
      await loader.load(info, other);
    }
    // One transpiled entry: the fuel pass ran once, for the code all three share.
    expect(transpiledDirs(home)).toEqual([dir]);
    expect(readdirSync(join(home, 'cache', 'code'))).toHaveLength(3);
  });

  it('remembers inspections by digest, and still checks the header of every input', async () => {
    const home = tempHome();
    const loader = new Loader(home);
    const bytes = readFileSync(await sample('echo'));
    const first = await loader.inspect(bytes, 'echo');
    expect(readdirSync(join(home, 'cache', 'inspect'))).toEqual([`${first.digest}-v3.json`]);
    expect(await new Loader(home).inspect(bytes, 'echo')).toEqual(first);
    await expect(loader.inspect(bytes.subarray(0, 100), 'cut')).rejects.toMatchObject({
      code: 'AOS_E_TRUNCATED',
    });
  });

  it('keeps component bytes content-addressed and reads them back', async () => {
    const home = tempHome();
    const loader = new Loader(home);
    const bytes = readFileSync(await fixture('echo-wat'));
    const info = await inspectComponent(bytes, 'echo');
    loader.keep(bytes, info.digest);
    expect(existsSync(loader.componentPath(info.digest))).toBe(true);
    expect(Buffer.compare(Buffer.from(loader.stored(info.digest)), bytes)).toBe(0);
    expect(() => loader.stored('0'.repeat(64))).toThrow(
      expect.objectContaining({ code: 'AOS_E_COMPONENT_NOT_FOUND' }),
    );
  });
});
