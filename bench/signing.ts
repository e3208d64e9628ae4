/**
 * What checking a signed 12 MB component costs at load: cold (hash every section, verify the
 * Ed25519 signature, read the manifest) and cached by digest (the policy's remembered verdict),
 * beside a bare SHA-256 of the same file, in the same run.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { sha256 } from '../kernel/loader/loader.js';
import { readManifest } from '../kernel/signing/manifest.js';
import { SigningPolicy } from '../kernel/signing/policy.js';
import { TrustStore } from '../kernel/signing/trust.js';
import { sample, tempHome } from '../testing/harness.js';
import { devTrust } from '../toolchain/dev-key.js';
import { type Figure, figure, percentiles, timeEach } from './measure.js';

export async function signingFigures(log: (s: string) => void): Promise<Figure[]> {
  const bytes = readFileSync(await sample('echo'));
  const digest = sha256(bytes);
  const manifest = readManifest(bytes, 'echo');
  const mb = (bytes.length / 1048576).toFixed(1);
  const store = TrustStore.at(tempHome());
  const trust = devTrust();
  const bare = percentiles(await timeEach(15, 3, () => createHash('sha256').update(bytes).digest()));
  // A new policy each time: nothing remembered, so the whole check runs.
  const cold = percentiles(
    await timeEach(15, 3, () =>
      new SigningPolicy(store, { trust }, undefined, Date.now).admit(bytes, digest, manifest, 'echo'),
    ),
  );
  const policy = new SigningPolicy(store, { trust }, undefined, Date.now);
  const cached = percentiles(await timeEach(2000, 100, () => policy.admit(bytes, digest, manifest, 'echo')));
  log(
    `signing: bare sha256 ${(bare.p50 / 1000).toFixed(1)} ms, cold ${(cold.p50 / 1000).toFixed(1)} ms, cached ${cached.p50.toFixed(1)} µs`,
  );
  const base = `bare SHA-256 of the ${mb} MB file (node:crypto), p50`;
  return [
    figure(
      `verify a signed ${mb} MB JS component at load, cold (hash every section, Ed25519, trust store, manifest), p50`,
      cold.p50 / 1000,
      'ms',
      base,
      bare.p50 / 1000,
    ),
    figure(
      `verify the same component again, cached by digest (the policy's remembered verdict), p50`,
      cached.p50 / 1000,
      'ms',
      base,
      bare.p50 / 1000,
    ),
  ];
}
