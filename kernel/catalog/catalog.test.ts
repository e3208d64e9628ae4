import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { codeOf } from '../../testing/expect-error.js';
import { openKernel, sample, signedForTests, tempHome } from '../../testing/harness.js';
import { devTrust } from '../../toolchain/dev-key.js';
import { SIGNATURE_SECTION } from '../signing/format.js';
import { type Manifest, readManifest } from '../signing/manifest.js';
import { withoutCustomSections } from '../signing/sections.js';

/** The text-stats sample as version `version` (its manifest changed, signed again by the dev key). */
async function textStats(version: string, over: Partial<Manifest> = {}): Promise<Buffer> {
  const bytes = readFileSync(await sample('text-stats'));
  const manifest = readManifest(bytes, 'text-stats')!;
  return signedForTests(withoutCustomSections(bytes, [SIGNATURE_SECTION], 'text-stats'), {
    ...manifest,
    version,
    ...over,
  });
}

const code = async (p: Promise<unknown> | (() => unknown)): Promise<string> =>
  (await codeOf(p)).split(':')[0]!;

describe('the catalog', () => {
  it('keeps versions side by side; spawns by name (current) or by range (highest in range)', async () => {
    const k = await openKernel();
    const first = await k.catalog.install(await textStats('1.2.0'));
    expect(first).toMatchObject({ name: 'text-stats', version: '1.2.0', current: true, world: 'skill' });
    expect(first.tools.map((t) => t.name)).toEqual(['stats', 'top-words']);
    expect(first.publisher).toBe('agentos-dev');
    // Installed beside it, not made current.
    expect(await k.catalog.install(await textStats('1.3.1'))).toMatchObject({ current: false });
    await k.catalog.install(await textStats('2.0.0'));
    expect(k.catalog.list().map((e) => [e.version, e.current])).toEqual([
      ['1.2.0', true],
      ['1.3.1', false],
      ['2.0.0', false],
    ]);
    const byName = await k.spawn('text-stats');
    expect(k.inspect(byName).provenance).toMatchObject({ name: 'text-stats', version: '1.2.0' });
    const byRange = await k.spawn('text-stats@^1.2');
    expect(k.inspect(byRange).provenance).toMatchObject({ version: '1.3.1' });
    expect(byRange).toMatch(/^text-stats-/);
    expect(await k.invoke(byRange, 'stats', { text: 'a b' })).toMatchObject({ words: 2 });
    expect(k.catalog.resolve('text-stats@>=2').version).toBe('2.0.0');
    expect(k.catalog.resolve({ tool: 'top-words', range: '~1.3' }).version).toBe('1.3.1');
    expect(await code(k.spawn('text-stats@^3'))).toBe('AOS_E_NOT_INSTALLED');
    expect(await codeOf(() => k.catalog.resolve('text-stats@^3'))).toMatch(
      /installed: 1\.2\.0, 1\.3\.1, 2\.0\.0/,
    );
    expect(await code(() => k.catalog.resolve('text-stats@not a range'))).toBe('AOS_E_BAD_ARGUMENT');
    expect(await code(k.spawn('nothing-here'))).toBe('AOS_E_NOT_INSTALLED');
    expect(await code(() => k.catalog.resolve({ tool: 'translate' }))).toBe('AOS_E_NOT_INSTALLED');
  });

  it('update makes a version current, rollback walks back, and running agents keep their version', async () => {
    const k = await openKernel();
    await k.catalog.install(await textStats('1.0.0'));
    const old = await k.spawn('text-stats');
    await k.catalog.update(await textStats('1.1.0'));
    await k.catalog.update(await textStats('2.0.0'));
    expect(k.catalog.resolve('text-stats').version).toBe('2.0.0');
    expect((await k.catalog.rollback('text-stats')).version).toBe('1.1.0');
    expect((await k.catalog.rollback('text-stats')).version).toBe('1.0.0');
    expect(await codeOf(k.catalog.rollback('text-stats'))).toMatch(
      /^AOS_E_BAD_STATE: text-stats has no earlier version/,
    );
    expect(await k.catalog.uninstall('text-stats', '1.0.0')).toEqual(['1.0.0']);
    // The current one went: the highest left is current.
    expect(k.catalog.resolve('text-stats').version).toBe('2.0.0');
    expect(await k.catalog.uninstall('text-stats')).toEqual(['1.1.0', '2.0.0']);
    expect(k.catalog.list()).toEqual([]);
    // The agent spawned from 1.0.0 still runs on it.
    expect(k.inspect(old).provenance).toMatchObject({ version: '1.0.0' });
    expect(await k.invoke(old, 'stats', { text: 'still here' })).toMatchObject({ words: 2 });
    expect(await code(k.catalog.uninstall('text-stats'))).toBe('AOS_E_NOT_INSTALLED');
    expect(await code(k.catalog.rollback('text-stats'))).toBe('AOS_E_NOT_INSTALLED');
  });

  it('refuses a version installed with other bytes unless forced, and a bad component, changing nothing', async () => {
    const home = tempHome();
    const k = await openKernel({ home });
    const v1 = await textStats('1.0.0');
    const entry = await k.catalog.install(v1);
    expect(await k.catalog.install(v1)).toEqual(entry); // the same bytes again: nothing changes
    const other = await textStats('1.0.0', { description: 'the same version, other bytes' });
    expect(await code(k.catalog.install(other))).toBe('AOS_E_ALREADY_INSTALLED');
    expect(k.catalog.list()).toEqual([entry]);
    const stored = readdirSync(join(home, 'components')).sort();
    const unsigned = withoutCustomSections(v1, [SIGNATURE_SECTION], 'v1');
    const cases: [string, Uint8Array | string][] = [
      ['AOS_E_UNSIGNED', unsigned],
      ['AOS_E_SIGNATURE_MISMATCH', Buffer.concat([v1, Buffer.from([0, 2, 1, 0x61])])],
      ['AOS_E_NOT_WASM', Buffer.from('not wasm at all')],
      ['AOS_E_COMPONENT_NOT_FOUND', join(home, 'nothing.wasm')],
    ];
    for (const [expected, bytes] of cases)
      expect([expected, await code(k.catalog.install(bytes))]).toEqual([expected, expected]);
    expect(k.catalog.list()).toEqual([entry]);
    expect(readdirSync(join(home, 'components')).sort()).toEqual(stored);
    const forced = await k.catalog.install(other, { force: true });
    expect(forced).toMatchObject({
      version: '1.0.0',
      description: 'the same version, other bytes',
      current: true,
    });
  });

  it('searches current versions by name, capability and the words of their descriptions', async () => {
    const k = await openKernel();
    await k.catalog.install(await textStats('1.0.0'));
    await k.catalog.install(await sample('echo'));
    await k.catalog.install(await sample('counter'));
    const names = (q: Parameters<typeof k.catalog.search>[0]) => k.catalog.search(q).map((e) => e.name);
    expect(names({ text: 'frequent words' })).toEqual(['text-stats']);
    expect(names({ capability: 'working-memory' })).toEqual(['counter']);
    expect(names({ capability: 'log' })).toEqual(['counter', 'echo']);
    expect(names({ name: 'e', text: 'body' })).toEqual(['echo']);
    expect(names({ text: 'nothing matches this' })).toEqual([]);
  });

  it('survives a restart: the catalog is in the data dir', async () => {
    const home = tempHome();
    let k = await openKernel({ home });
    await k.catalog.install(await textStats('1.0.0'));
    await k.catalog.update(await textStats('1.1.0'));
    await k.close();
    k = await openKernel({ home });
    expect(k.catalog.list().map((e) => [e.version, e.current])).toEqual([
      ['1.0.0', false],
      ['1.1.0', true],
    ]);
    expect((await k.catalog.rollback('text-stats')).version).toBe('1.0.0');
    const id = await k.spawn('text-stats');
    expect(await k.invoke(id, 'stats', { text: 'x' })).toMatchObject({ words: 1 });
    expect(existsSync(join(home, 'db'))).toBe(true);
  });

  it('marks what the policy admitted unsigned: its publisher is what the manifest claims, unverified', async () => {
    const k = await openKernel({ policy: { allowUnsigned: true, trust: devTrust() } });
    const signed = await k.catalog.install(await textStats('1.0.0'));
    expect(signed).toMatchObject({ publisher: 'agentos-dev', signed: true, keyId: expect.any(String) });
    const bytes = readFileSync(await sample('echo'));
    const claimed = withoutCustomSections(bytes, [SIGNATURE_SECTION], 'echo');
    const unsigned = await k.catalog.install(claimed);
    expect(unsigned).toMatchObject({ name: 'echo', publisher: 'agentos-dev', signed: false });
    expect(unsigned.keyId).toBeUndefined();
  });
});
