/**
 * Installing a component into the catalog: read, inspected, admitted by the signing policy,
 * transpiled and metered (so it can run, and its first spawn is quick), its bytes kept, and only
 * then recorded. A refusal at any step leaves the catalog and the kept bytes as they were.
 *
 * @example
 * const entry = await installComponent(parts, 'dist/text-stats.wasm', { makeCurrent: true });
 */
import { existsSync } from 'node:fs';
import { AgentOSError } from '../base/errors.js';
import { type Loader, readComponent } from '../loader/loader.js';
import type { SigningPolicy } from '../signing/policy.js';
import { type Catalog, type CatalogEntry, REF } from './catalog.js';

export interface InstallParts {
  loader: Loader;
  policy: SigningPolicy;
  catalog: Catalog;
}

export interface InstallOptions {
  /** Make it the current version even if another one is (update). */
  makeCurrent?: boolean;
  /** Replace a version installed with other bytes. */
  force?: boolean;
}

/** @throws AgentOSError the loader's and the policy's codes, AOS_E_BAD_EXPORTS, AOS_E_ALREADY_INSTALLED */
export async function installComponent(
  parts: InstallParts,
  component: string | Uint8Array,
  options: InstallOptions = {},
): Promise<CatalogEntry & { current: boolean }> {
  const what = typeof component === 'string' ? component : 'component';
  const bytes = typeof component === 'string' ? await readComponent(component) : component;
  const info = await parts.loader.inspect(bytes, what);
  const provenance = parts.policy.admit(bytes, info.digest, info.manifest, what);
  if (info.world === 'unknown') {
    throw new AgentOSError(
      'AOS_E_BAD_EXPORTS',
      `${what} fits neither the agent nor the skill world: ${info.exportProblems.join('; ')}`,
    );
  }
  if (info.manifest && info.manifest.world !== info.world) {
    throw new AgentOSError(
      'AOS_E_BAD_MANIFEST',
      `${what}: its manifest says world ${info.manifest.world}, but its exports are the ${info.world} world's`,
    );
  }
  await parts.loader.load(info, bytes);
  parts.loader.keep(bytes, info.digest);
  return parts.catalog.install(info.digest, info.manifest, provenance, options);
}

/**
 * The installed component a spawn argument names, or null when it is a path: a string that is
 * `name` or `name@range` and no file of that name exists.
 */
export function installedFor(
  parts: Pick<InstallParts, 'loader' | 'catalog'>,
  component: string,
): { bytes: Uint8Array; what: string; name: string } | null {
  if (!REF.test(component) || existsSync(component)) return null;
  const entry = parts.catalog.resolve(component);
  return {
    bytes: parts.loader.stored(entry.digest),
    what: `${entry.name}@${entry.version}`,
    name: entry.name,
  };
}
