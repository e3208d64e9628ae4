/**
 * The directory registry (`file:<dir>`): the same publish, pull and tag listing as the OCI
 * registry, in OCI image layouts; and what a damaged or hostile directory gets.
 */

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { agentos } from '../../testing/cli-runner.js';
import { codeOf } from '../../testing/expect-error.js';
import { openKernel, sample, tempHome } from '../../testing/harness.js';
import { LayoutRegistry } from './oci-layout.js';

const code = async (p: Promise<unknown>): Promise<string> => (await codeOf(p)).split(':')[0]!;
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** A registry directory with echo 1.0.0 published in it. */
async function published(): Promise<{ dir: string; url: string; repo: string }> {
  const dir = tempHome('agentos-layout-');
  const url = `file:${dir}`;
  await (await openKernel()).catalog.publish(await sample('echo'), url);
  return { dir, url, repo: join(dir, 'agentos-dev', 'echo') };
}

const index = (repo: string) => JSON.parse(readFileSync(join(repo, 'index.json'), 'utf8'));
const blob = (repo: string, digest: string) => join(repo, 'blobs', 'sha256', digest.slice(7));
const layerOf = (repo: string): string =>
  JSON.parse(readFileSync(blob(repo, index(repo).manifests[0].digest), 'utf8')).layers[0].digest;

describe('a directory registry (file:)', () => {
  it('publishes as an OCI image layout, lists the versions, refuses a re-push, and pulls into another kernel', async () => {
    const { dir, url, repo } = await published();
    expect(JSON.parse(readFileSync(join(repo, 'oci-layout'), 'utf8'))).toEqual({
      imageLayoutVersion: '1.0.0',
    });
    const idx = index(repo);
    expect(idx).toMatchObject({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json' });
    expect(idx.manifests).toHaveLength(1);
    expect(idx.manifests[0].annotations).toEqual({ 'org.opencontainers.image.ref.name': '1.0.0' });
    expect(JSON.parse(readFileSync(join(repo, 'refs', '1.0.0.json'), 'utf8'))).toEqual(idx.manifests[0]);
    // Every blob is named by its content, and nothing is left aside.
    for (const f of readdirSync(join(repo, 'blobs', 'sha256')))
      expect(sha(readFileSync(join(repo, 'blobs', 'sha256', f)))).toBe(f);
    expect(readdirSync(repo).sort()).toEqual(['blobs', 'index.json', 'oci-layout', 'refs']);
    expect(readdirSync(join(repo, 'refs'))).toEqual(['1.0.0.json']);
    const manifest = JSON.parse(readFileSync(blob(repo, idx.manifests[0].digest), 'utf8'));
    expect(manifest.config.mediaType).toBe('application/vnd.wasm.config.v0+json');
    expect(manifest.layers.map((l: { mediaType: string }) => l.mediaType)).toEqual(['application/wasm']);
    expect(
      readFileSync(blob(repo, manifest.layers[0].digest)).equals(readFileSync(await sample('echo'))),
    ).toBe(true);

    const k = await openKernel();
    expect(await code(k.catalog.publish(await sample('echo'), url))).toBe('AOS_E_ALREADY_PUBLISHED');
    await k.catalog.publish(await sample('echo'), url, { force: true });
    expect(index(repo).manifests).toHaveLength(1); // forced: the tag moves, it is not repeated
    await k.catalog.publish(await sample('text-stats'), `file:${relative(process.cwd(), dir)}`);
    expect(await k.catalog.published(pathToFileURL(dir).href, 'agentos-dev/echo')).toEqual(['1.0.0']);
    expect(await k.catalog.published(url, 'agentos-dev/text-stats')).toEqual(['1.0.0']);
    expect(await k.catalog.published(url, 'agentos-dev/nothing')).toEqual([]);
    expect(await code(k.catalog.published(url, '../etc'))).toBe('AOS_E_BAD_ARGUMENT');

    const other = await openKernel();
    expect(await other.catalog.pull(url, 'agentos-dev/echo:1.0.0')).toMatchObject({
      name: 'echo',
      current: true,
    });
    const id = await other.spawn('echo@1', { grants: ['log'] });
    expect(await other.send(id, { text: 'offline' })).toMatchObject({ text: 'offline' });
  });

  it('publishers at once keep every tag; of two publishing one version, one wins; an index lost in a crash is rebuilt', async () => {
    const dir = tempHome('agentos-layout-');
    const reg = new LayoutRegistry(dir);
    const bytes = readFileSync(await sample('echo'));
    const other = readFileSync(await sample('counter'));
    const tags = Array.from({ length: 12 }, (_, i) => `1.${i}.0`);
    await Promise.all(tags.map((t) => reg.push('acme/echo', t, bytes, {})));
    expect(await reg.tags('acme/echo')).toEqual([...tags].sort());
    const repo = join(dir, 'acme', 'echo');
    expect(
      index(repo)
        .manifests.map(
          (d: { annotations: Record<string, string> }) => d.annotations['org.opencontainers.image.ref.name'],
        )
        .sort(),
    ).toEqual([...tags].sort());
    // The same version twice at once, different bytes: one lands, the other is refused.
    const both = await Promise.allSettled([
      reg.push('acme/echo', '2.0.0', bytes, {}),
      reg.push('acme/echo', '2.0.0', other, {}),
    ]);
    expect(both.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    const refused = both.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(refused.reason).toMatchObject({ code: 'AOS_E_ALREADY_PUBLISHED' });
    // A publisher that died after writing its tag but before the index: the tag pulls, and the
    // next publish puts it back in index.json.
    const saved = readFileSync(join(repo, 'index.json'), 'utf8');
    await reg.push('acme/echo', '3.0.0', bytes, {});
    writeFileSync(join(repo, 'index.json'), saved);
    expect((await reg.pull('acme/echo', '3.0.0')).bytes.equals(bytes)).toBe(true);
    await reg.push('acme/echo', '3.0.1', bytes, {});
    expect(JSON.stringify(index(repo))).toContain('"3.0.0"');
    // A planted symlink is replaced, never written through.
    const victim = join(tempHome(), 'victim');
    writeFileSync(victim, 'keep');
    execFileSync('rm', [join(repo, 'oci-layout')]);
    symlinkSync(victim, join(repo, 'oci-layout'));
    await reg.push('acme/echo', '4.0.0', bytes, {});
    expect(readFileSync(victim, 'utf8')).toBe('keep');
    expect(lstatSync(join(repo, 'oci-layout')).isFile()).toBe(true);
  });

  it('refuses a missing registry, a missing tag, flipped, cut and missing blobs, and a damaged index, installing nothing', async () => {
    const { url, repo } = await published();
    const k = await openKernel();
    const pull = () => code(k.catalog.pull(url, 'agentos-dev/echo:1.0.0'));
    expect(await code(k.catalog.pull(`file:${tempHome()}/none`, 'agentos-dev/echo:1.0.0'))).toBe(
      'AOS_E_REGISTRY',
    );
    expect(await code(k.catalog.pull(url, 'agentos-dev/echo:9.9.9'))).toBe('AOS_E_NOT_INSTALLED');
    for (const bad of ['file:', 'file:/', 'file://', 'file:/tmp/a\0b'])
      expect(await code(k.catalog.pull(bad, 'agentos-dev/echo:1.0.0'))).toBe('AOS_E_BAD_ARGUMENT');
    expect(await code(k.catalog.pull(`FILE:${tempHome()}/none`, 'agentos-dev/echo:1.0.0'))).toBe(
      'AOS_E_REGISTRY',
    );
    expect(await code(k.catalog.pull('file://elsewhere/x', 'agentos-dev/echo:1.0.0'))).toBe(
      'AOS_E_BAD_ARGUMENT',
    );

    const layer = blob(repo, layerOf(repo));
    const good = readFileSync(layer);
    const flipped = Buffer.from(good);
    flipped[flipped.length >> 1]! ^= 1;
    writeFileSync(layer, flipped);
    expect(await pull()).toBe('AOS_E_DIGEST_MISMATCH');
    truncateSync(layer, good.length >> 1);
    expect(await pull()).toBe('AOS_E_DIGEST_MISMATCH');
    writeFileSync(layer, Buffer.concat([good, Buffer.from([0])]));
    expect(await pull()).toBe('AOS_E_DIGEST_MISMATCH');
    execFileSync('rm', [layer]);
    execFileSync('mkfifo', [layer]); // a FIFO where the blob was: refused, not waited on
    expect(await pull()).toBe('AOS_E_REGISTRY');
    execFileSync('rm', [layer]);
    expect(await pull()).toBe('AOS_E_REGISTRY');
    expect(k.catalog.list()).toEqual([]);
    writeFileSync(layer, good); // repaired: it pulls again
    expect(await k.catalog.pull(url, 'agentos-dev/echo:1.0.0')).toMatchObject({ name: 'echo' });
    await k.catalog.uninstall('echo');

    // A layout another tool wrote has no refs/: index.json alone names the tags.
    execFileSync('rm', ['-r', join(repo, 'refs')]);
    expect(await k.catalog.pull(url, 'agentos-dev/echo:1.0.0')).toMatchObject({ name: 'echo' });
    await k.catalog.uninstall('echo');
    const saved = readFileSync(join(repo, 'index.json'));
    writeFileSync(join(repo, 'index.json'), '{not json');
    expect(await pull()).toBe('AOS_E_REGISTRY');
    writeFileSync(join(repo, 'index.json'), '{"schemaVersion":2}');
    expect(await pull()).toBe('AOS_E_REGISTRY');
    expect(k.catalog.list()).toEqual([]);
    writeFileSync(join(repo, 'index.json'), saved);
  });

  it('an edited index or manifest cannot name a file outside the layout', async () => {
    const { dir, url, repo } = await published();
    const k = await openKernel();
    const pull = () => codeOf(k.catalog.pull(url, 'agentos-dev/echo:1.0.0'));
    // A file outside the layout, and an index entry that points at it by a "digest" path.
    writeFileSync(join(dir, 'secret'), '{"layers":[]}');
    const ref = join(repo, 'refs', '1.0.0.json');
    const honest = JSON.parse(readFileSync(ref, 'utf8'));
    writeFileSync(ref, JSON.stringify({ ...honest, digest: 'sha256:../../../../secret' }));
    expect(await pull()).toMatch(/^AOS_E_REGISTRY: .*not a sha256 digest/);
    // The same through index.json, in a layout without refs/.
    execFileSync('rm', ['-r', join(repo, 'refs')]);
    const idx = index(repo);
    idx.manifests[0].digest = 'sha256:../../../../secret';
    writeFileSync(join(repo, 'index.json'), JSON.stringify(idx));
    expect(await pull()).toMatch(/^AOS_E_REGISTRY: .*not a sha256 digest/);
    // A manifest (correctly indexed by its own digest) whose layer digest is a path.
    const manifest = JSON.parse(readFileSync(blob(repo, honest.digest), 'utf8'));
    manifest.layers[0].digest = 'sha256:../../../../secret';
    const raw = Buffer.from(JSON.stringify(manifest));
    writeFileSync(join(repo, 'blobs', 'sha256', sha(raw)), raw);
    idx.manifests[0] = { ...honest, digest: `sha256:${sha(raw)}`, size: raw.length };
    writeFileSync(join(repo, 'index.json'), JSON.stringify(idx));
    expect(await pull()).toMatch(/^AOS_E_REGISTRY: .*not a sha256 digest/);
    // The tag named twice.
    idx.manifests.push(idx.manifests[0]);
    writeFileSync(join(repo, 'index.json'), JSON.stringify(idx));
    expect(await pull()).toMatch(/^AOS_E_REGISTRY: .*more than once/);
    expect(k.catalog.list()).toEqual([]);
  });

  it('the CLI publishes to, lists and pulls from a directory', async () => {
    const dir = tempHome('agentos-layout-');
    const cli = (args: string[]) => agentos([...args, '--home', tempHome()]);
    const pushed = await cli(['publish', await sample('echo'), '--registry', `file:${dir}`]);
    expect(JSON.parse(pushed.stdout)).toMatchObject({
      reference: 'agentos-dev/echo:1.0.0',
      registry: `file:${dir}`,
    });
    const listed = await cli(['published', 'agentos-dev/echo', '--registry', `file:${dir}`]);
    expect(JSON.parse(listed.stdout)).toEqual({ repo: 'agentos-dev/echo', versions: ['1.0.0'] });
    const pulled = await cli(['pull', 'agentos-dev/echo:1.0.0', '--registry', `file:${dir}`]);
    expect(JSON.parse(pulled.stdout)).toMatchObject({ name: 'echo', version: '1.0.0', current: true });
    const again = await cli(['publish', await sample('echo'), '--registry', `file:${dir}`]);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/^AOS_E_ALREADY_PUBLISHED/);
  }, 120_000);
});
