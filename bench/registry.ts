/**
 * Publishing to and pulling from a local OCI registry (Debian's docker-registry on 127.0.0.1),
 * beside a bare `fetch` of the same blob from the same registry, in the same run.
 */
import { readFileSync } from 'node:fs';
import type { Kernel } from '../index.js';
import { Kernel as KernelWithDefaults } from '../index.js';
import { OciRegistry } from '../kernel/catalog/oci.js';
import { sample, TEST_CACHE_DIR, tempHome } from '../testing/harness.js';
import { startRegistry } from '../testing/registry.js';
import { devTrust } from '../toolchain/dev-key.js';
import { type Figure, figure, percentiles, timeEach } from './measure.js';

export async function registryFigures(log: (s: string) => void): Promise<Figure[]> {
  const registry = await startRegistry();
  const url = registry.url;
  let kernel: Kernel | undefined;
  try {
    kernel = await KernelWithDefaults.open({
      home: tempHome(),
      cacheDir: TEST_CACHE_DIR,
      logLevel: 'silent',
      policy: { trust: devTrust() },
    });
    const path = await sample('text-stats');
    const mb = (readFileSync(path).length / 1048576).toFixed(1);
    const k = kernel;
    const publish = percentiles(await timeEach(7, 1, () => k.catalog.publish(path, url, { force: true })));
    const reg = new OciRegistry(url);
    const { digest } = await reg.pull('agentos-dev/text-stats', '1.0.0');
    const pull = percentiles(await timeEach(15, 2, () => reg.pull('agentos-dev/text-stats', '1.0.0')));
    const bare = percentiles(
      await timeEach(15, 2, async () =>
        Buffer.from(await (await fetch(`${url}/v2/agentos-dev/text-stats/blobs/${digest}`)).arrayBuffer()),
      ),
    );
    log(
      `registry: publish ${(publish.p50 / 1000).toFixed(0)} ms, pull ${(pull.p50 / 1000).toFixed(0)} ms, bare fetch ${(bare.p50 / 1000).toFixed(0)} ms`,
    );
    const base = `bare fetch of the same ${mb} MB blob from the registry, p50`;
    return [
      figure(
        `publish a signed ${mb} MB component to a local OCI registry (policy check, blobs, manifest), p50`,
        publish.p50 / 1000,
        'ms',
        base,
        bare.p50 / 1000,
      ),
      figure(
        `pull it back (manifest, blob, digest and size checked), p50`,
        pull.p50 / 1000,
        'ms',
        base,
        bare.p50 / 1000,
      ),
    ];
  } finally {
    await kernel?.close();
    registry.stop();
  }
}
