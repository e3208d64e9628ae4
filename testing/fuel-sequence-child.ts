/** Runs fuelSequence in a fresh process on a fresh data dir and prints the fuel as JSON. */
import { stdout } from 'node:process';
import { Kernel } from '../index.js';
import { devTrust } from '../toolchain/dev-key.js';
import { fuelSequence } from './fuel-sequence.js';
import { TEST_CACHE_DIR, tempHome } from './harness.js';

const kernel = await Kernel.open({
  home: tempHome(),
  cacheDir: TEST_CACHE_DIR,
  workers: 2,
  logLevel: 'silent',
  policy: { trust: devTrust() },
});
try {
  stdout.write(`${JSON.stringify(await fuelSequence(kernel))}\n`);
} finally {
  await kernel.close();
}
