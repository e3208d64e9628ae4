/**
 * The kernel the benchmarks time: a fresh data dir, the shared metered-module cache, the dev key
 * trusted, no logs, and durability relaxed (a call is answered when it returns;
 * bench/durability.ts measures what waiting for the disk adds).
 *
 * @example
 * const kernel = await openBenchKernel({ cpus: 1 });
 */
import type { KernelOptions } from '../index.js';
import { Kernel } from '../index.js';
import { TEST_CACHE_DIR, tempHome } from '../testing/harness.js';
import { devTrust } from '../toolchain/dev-key.js';

export const openBenchKernel = (options: KernelOptions = {}): Promise<Kernel> =>
  Kernel.open({
    home: tempHome(),
    cacheDir: TEST_CACHE_DIR,
    logLevel: 'silent',
    policy: { trust: devTrust() },
    durability: 'relaxed',
    ...options,
  });
