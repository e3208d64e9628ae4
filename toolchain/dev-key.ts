/**
 * The development signing key: `<home>/keys/dev.key` (mode 0600, never committed), made on first
 * use and trusted in that data dir's trust store for the publisher `agentos-dev`. The install
 * signs the sample components with it, so `npm start` loads them under the default policy.
 * Kernels on other data dirs (tests, benchmarks) trust it through `devTrust()`.
 *
 * @example
 * const pair = devKey();                       // ./.agentos/keys/dev.key, made if missing
 * await Kernel.open({ home: tmp, policy: { trust: devTrust() } });
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { env } from 'node:process';
import { packageRoot } from '../kernel/base/paths.js';
import {
  generateKeyPair,
  type KeyPair,
  publicKeyText,
  readKeyPair,
  writeKeyPair,
} from '../kernel/signing/keys.js';
import type { TrustAnchor } from '../kernel/signing/policy.js';
import { TrustStore } from '../kernel/signing/trust.js';

export const DEV_PUBLISHER = 'agentos-dev';

/** The data dir the install and `npm start` use: `$AGENTOS_HOME`, else `.agentos` in the package. */
export const defaultHome = (): string => resolve(env.AGENTOS_HOME ?? join(packageRoot(), '.agentos'));

/** Path of the development key of `home`. */
export const devKeyPath = (home = defaultHome()): string => join(home, 'keys', 'dev.key');

/** The development key of `home`, made (and trusted there) if it does not exist yet. */
export function devKey(home = defaultHome()): KeyPair {
  const path = devKeyPath(home);
  if (!existsSync(path)) {
    mkdirSync(join(home, 'keys'), { recursive: true, mode: 0o700 });
    const pair = generateKeyPair();
    try {
      writeKeyPair(path, pair);
    } catch (e) {
      // Another build made it meanwhile: use that one.
      if (!existsSync(path)) throw e;
    }
  }
  const pair = readKeyPair(path);
  const trust = TrustStore.at(home);
  const trusted = trust.known().some((k) => k.entry.id === pair.publicKey.id && k.entry.revokedAt === null);
  if (!trusted) trust.add(DEV_PUBLISHER, pair.publicKey, { now: Date.now() });
  return pair;
}

/** The development key as a trust anchor, for a kernel on another data dir. */
export function devTrust(home = defaultHome()): TrustAnchor[] {
  return [{ publisher: DEV_PUBLISHER, key: publicKeyText(devKey(home).publicKey) }];
}
