/**
 * Publishing to and pulling from a real OCI registry: Debian's docker-registry (CNCF
 * distribution 2.8), started here on 127.0.0.1 with a throwaway config and storage, and stopped.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentos } from '../../testing/cli-runner.js';
import { codeOf } from '../../testing/expect-error.js';
import { openKernel, sample, tempHome } from '../../testing/harness.js';
import { freePort, startRegistry } from '../../testing/registry.js';
import { OciRegistry } from './oci.js';

let registry: Awaited<ReturnType<typeof startRegistry>>;
let url: string;

beforeAll(async () => {
  registry = await startRegistry();
  url = registry.url;
}, 60_000);

afterAll(() => registry?.stop());

const code = async (p: Promise<unknown>): Promise<string> => (await codeOf(p)).split(':')[0]!;

describe('publishing to an OCI registry', () => {
  it('publishes a signed component as publisher/name:version, lists it, and pulls it into the catalog', async () => {
    const k = await openKernel();
    const path = await sample('text-stats');
    const published = await k.catalog.publish(path, url);
    expect(published).toMatchObject({ reference: 'agentos-dev/text-stats:1.0.0', registry: url });
    expect(await k.catalog.published(url, 'agentos-dev/text-stats')).toEqual(['1.0.0']);
    // A second publish of the same version is refused unless forced.
    expect(await code(k.catalog.publish(path, url))).toBe('AOS_E_ALREADY_PUBLISHED');
    await k.catalog.publish(path, url, { force: true });
    // The artifact is in the wasm layout.
    const { manifest, bytes } = await new OciRegistry(url).pull('agentos-dev/text-stats', '1.0.0');
    expect(manifest.config.mediaType).toBe('application/vnd.wasm.config.v0+json');
    expect(manifest.layers.map((l) => l.mediaType)).toEqual(['application/wasm']);
    expect(bytes.equals(readFileSync(path))).toBe(true);
    // Another kernel pulls it, verifies it against its trust, and runs it by name.
    const other = await openKernel();
    const entry = await other.catalog.pull(url, 'agentos-dev/text-stats:1.0.0');
    expect(entry).toMatchObject({ name: 'text-stats', version: '1.0.0', current: true });
    const id = await other.spawn('text-stats@1');
    expect(await other.invoke(id, 'stats', { text: 'pulled and run' })).toMatchObject({ words: 3 });
  });

  it('refuses a registry that is down, a missing tag, a bad reference, and an untrusted pull, installing nothing', async () => {
    const k = await openKernel();
    await k.catalog.publish(await sample('echo'), url, { force: true });
    const down = `http://127.0.0.1:${await freePort()}`;
    expect(await codeOf(k.catalog.publish(await sample('echo'), down))).toMatch(
      /^AOS_E_REGISTRY: the registry .* cannot be reached/,
    );
    expect(await code(k.catalog.pull(down, 'agentos-dev/echo:1.0.0'))).toBe('AOS_E_REGISTRY');
    expect(await code(k.catalog.pull(url, 'agentos-dev/echo:9.9.9'))).toBe('AOS_E_NOT_INSTALLED');
    expect(await code(k.catalog.pull(url, '../echo'))).toBe('AOS_E_BAD_ARGUMENT');
    expect(await code(k.catalog.pull('ftp://x', 'agentos-dev/echo:1.0.0'))).toBe('AOS_E_BAD_ARGUMENT');
    // A kernel that trusts nobody pulls the bytes but refuses to install them.
    const strict = await openKernel({ policy: { allowUnsigned: false } });
    expect(await code(strict.catalog.pull(url, 'agentos-dev/echo:1.0.0'))).toBe('AOS_E_UNTRUSTED_KEY');
    expect(strict.catalog.list()).toEqual([]);
    expect(k.catalog.list()).toEqual([]);
  });

  it('refuses a truncated download and bytes that do not match their digest', async () => {
    // A registry in front of the real one that cuts the component short or flips a byte.
    let mode: 'cut' | 'flip' = 'cut';
    const proxy = createServer(async (req, res) => {
      const r = await fetch(`${url}${req.url}`, { headers: { accept: String(req.headers.accept ?? '*/*') } });
      const body = Buffer.from(await r.arrayBuffer());
      const blob = req.url?.includes('/blobs/') && body.length > 1 << 20;
      const headers: Record<string, string> = {
        'content-type': r.headers.get('content-type') ?? 'application/octet-stream',
      };
      const mid = body.length >> 1;
      if (blob && mode === 'flip') body[mid] = body[mid]! ^ 1;
      res.writeHead(r.status, { ...headers, 'content-length': String(body.length) });
      if (blob && mode === 'cut') {
        res.write(body.subarray(0, body.length >> 1));
        res.destroy(); // the connection drops mid-download
        return;
      }
      res.end(body);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const via = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    try {
      const k = await openKernel();
      await k.catalog.publish(await sample('counter'), url, { force: true });
      expect(await code(k.catalog.pull(via, 'agentos-dev/counter:1.0.0'))).toMatch(
        /^AOS_E_(REGISTRY|DIGEST_MISMATCH)$/,
      );
      mode = 'flip';
      expect(await code(k.catalog.pull(via, 'agentos-dev/counter:1.0.0'))).toBe('AOS_E_DIGEST_MISMATCH');
      expect(k.catalog.list()).toEqual([]);
    } finally {
      proxy.close();
    }
  });

  it('the CLI publishes and pulls', async () => {
    const cli = (args: string[], home: string) => agentos([...args, '--home', home]);
    const echo = await sample('echo');
    const pushed = await cli(['publish', echo, '--registry', url, '--force'], tempHome());
    expect(JSON.parse(pushed.stdout)).toMatchObject({ reference: 'agentos-dev/echo:1.0.0' });
    const pulled = await cli(['pull', 'agentos-dev/echo:1.0.0', '--registry', url], tempHome());
    expect(JSON.parse(pulled.stdout)).toMatchObject({ name: 'echo', version: '1.0.0', current: true });
    const usage = await cli(['publish', echo], tempHome());
    expect(usage).toMatchObject({ code: 2, stdout: '' });
    expect(usage.stderr).toMatch(/^AOS_E_BAD_ARGUMENT: publish needs --registry/);
  }, 120_000);
});
