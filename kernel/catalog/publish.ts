/**
 * Publishing components to a registry (an OCI registry over HTTP, or a directory of OCI image
 * layouts for offline use: `file:<dir>`), and pulling them into the catalog.
 * A component is published as `<publisher>/<name>:<version>` only once the signing policy admits
 * it (so a registry never gets what this kernel would refuse); a version already there is
 * refused unless forced. A pulled component is checked against its digests, then installed
 * exactly as a local file would be: signature against the trust store, then metering.
 *
 * @example
 * await publishComponent(parts, 'dist/text-stats.wasm', 'http://127.0.0.1:5000');
 * await pullComponent(parts, 'http://127.0.0.1:5000', 'agentos-dev/text-stats:1.0.0');
 * await publishComponent(parts, 'dist/text-stats.wasm', 'file:./skills');   // offline
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AgentOSError } from '../base/errors.js';
import { readComponent } from '../loader/loader.js';
import type { ComponentRegistry } from './artifact.js';
import type { CatalogEntry } from './catalog.js';
import { type InstallOptions, type InstallParts, installComponent } from './install.js';
import { OciRegistry } from './oci.js';
import { LayoutRegistry } from './oci-layout.js';

/** `publisher/name:version`. */
const REFERENCE = /^([a-z0-9][a-z0-9._-]{0,63})\/([a-z][a-z0-9-]{0,63}):([0-9A-Za-z.+-]{1,128})$/;

/**
 * The registry a URL names: `http://host:port` or `https://…` is an OCI registry; `file:<path>`
 * (relative to the working directory, or absolute) or a `file:///` URL is a directory of OCI
 * image layouts.
 */
export function registryAt(url: string): ComponentRegistry {
  if (typeof url !== 'string')
    throw new AgentOSError('AOS_E_BAD_ARGUMENT', 'the registry must be a URL string');
  if (/^file:/i.test(url)) {
    let path: string;
    try {
      path = /^file:\/\//i.test(url) ? fileURLToPath(url) : url.slice('file:'.length);
    } catch (e) {
      throw new AgentOSError(
        'AOS_E_BAD_ARGUMENT',
        `${JSON.stringify(url)} is not a file: URL: ${(e as Error).message}`,
      );
    }
    const dir = path === '' || path.includes('\0') ? '' : resolve(path);
    if (dir === '' || dir === '/')
      throw new AgentOSError(
        'AOS_E_BAD_ARGUMENT',
        `${JSON.stringify(url)} names no directory a registry can be in (file:./skills, file:/srv/skills)`,
      );
    return new LayoutRegistry(dir);
  }
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new AgentOSError(
      'AOS_E_BAD_ARGUMENT',
      `${JSON.stringify(url)} is not a registry URL (http://host:port or file:<dir>)`,
    );
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new AgentOSError(
      'AOS_E_BAD_ARGUMENT',
      `the registry URL must be http:, https: or file:, got ${u.protocol}`,
    );
  }
  return new OciRegistry(u.origin);
}

export interface Published {
  reference: string;
  registry: string;
  digest: string;
  ms: number;
}

/** @throws AgentOSError the policy's codes, AOS_E_BAD_MANIFEST, AOS_E_ALREADY_PUBLISHED, AOS_E_REGISTRY */
export async function publishComponent(
  parts: InstallParts,
  component: string | Uint8Array,
  url: string,
  options: { force?: boolean } = {},
): Promise<Published> {
  const t0 = performance.now();
  const reg = registryAt(url);
  const what = typeof component === 'string' ? component : 'component';
  const bytes = typeof component === 'string' ? await readComponent(component) : component;
  const info = await parts.loader.inspect(bytes, what);
  const provenance = parts.policy.admit(bytes, info.digest, info.manifest, what);
  const m = info.manifest;
  if (!m || !provenance.signed) {
    throw new AgentOSError(
      'AOS_E_BAD_MANIFEST',
      `${what}: only a signed component with a manifest is published`,
    );
  }
  const repo = `${m.publisher}/${m.name}`;
  if (!options.force && (await reg.has(repo, m.version))) {
    throw new AgentOSError(
      'AOS_E_ALREADY_PUBLISHED',
      `${repo}:${m.version} is already in ${reg.base}; publish a new version, or force`,
      { repo, version: m.version },
    );
  }
  const digest = await reg.push(
    repo,
    m.version,
    bytes,
    { name: m.name, version: m.version, publisher: m.publisher, world: m.world },
    { force: options.force === true },
  );
  return {
    reference: `${repo}:${m.version}`,
    registry: reg.base,
    digest,
    ms: Math.round(performance.now() - t0),
  };
}

/** `publisher/name`. */
const REPO = /^[a-z0-9][a-z0-9._-]{0,63}\/[a-z][a-z0-9-]{0,63}$/;

/** The tags of `publisher/name` in the registry. @throws AgentOSError AOS_E_BAD_ARGUMENT, AOS_E_REGISTRY */
export async function publishedVersions(url: string, repo: string): Promise<string[]> {
  if (typeof repo !== 'string' || !REPO.test(repo))
    throw new AgentOSError('AOS_E_BAD_ARGUMENT', `${JSON.stringify(repo)} is not publisher/name`);
  return registryAt(url).tags(repo);
}

/** @throws AgentOSError AOS_E_BAD_ARGUMENT, AOS_E_REGISTRY, AOS_E_DIGEST_MISMATCH, and install's codes */
export async function pullComponent(
  parts: InstallParts,
  url: string,
  reference: string,
  options: InstallOptions = {},
): Promise<CatalogEntry & { current: boolean; pulledMs: number }> {
  const m = REFERENCE.exec(reference);
  if (!m)
    throw new AgentOSError(
      'AOS_E_BAD_ARGUMENT',
      `${JSON.stringify(reference)} is not publisher/name:version`,
    );
  const t0 = performance.now();
  const { bytes } = await registryAt(url).pull(`${m[1]}/${m[2]}`, m[3]!);
  const pulledMs = Math.round(performance.now() - t0);
  // The registry must serve what the reference names: checked before anything is installed.
  const served = (await parts.loader.inspect(bytes, reference)).manifest;
  if (served?.publisher !== m[1] || served?.name !== m[2] || served?.version !== m[3]) {
    const got = served
      ? `${served.publisher}/${served.name}:${served.version}`
      : 'a component without a manifest';
    throw new AgentOSError('AOS_E_REGISTRY', `${reference} served ${got}; nothing was installed`);
  }
  const entry = await installComponent(parts, bytes, options);
  return { ...entry, pulledMs };
}
