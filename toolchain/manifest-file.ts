/**
 * Where `agentos build` finds a component's manifest: given by the caller, or beside the source
 * as `agentos.json`, or as the `agentos` field of a `package.json` there. The manifest is
 * checked (kernel/signing/manifest.ts) before anything is built.
 *
 * @example
 * const { manifest, from } = findManifest('components/echo/index.ts');
 * from; // '…/components/echo/agentos.json'
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { AgentOSError } from '../kernel/base/errors.js';
import { type Manifest, parseManifest } from '../kernel/signing/manifest.js';

export interface FoundManifest {
  manifest: Manifest;
  /** The file it came from, or `given`. */
  from: string;
}

/**
 * The manifest for the source `entry`: `given` (a parsed manifest, or a path to one), else the
 * one beside `entry`.
 * @throws AgentOSError AOS_E_BAD_MANIFEST when there is none, or it is not valid.
 */
export function findManifest(entry: string, given?: Manifest | string): FoundManifest {
  if (given !== undefined && typeof given !== 'string')
    return { manifest: parseManifest(given, 'the manifest'), from: 'given' };
  if (typeof given === 'string') {
    const path = resolve(given);
    if (!existsSync(path)) throw new AgentOSError('AOS_E_BAD_MANIFEST', `no manifest file ${given}`);
    return { manifest: parseManifest(readFileSync(path), path), from: path };
  }
  const dir = dirname(resolve(entry));
  const own = join(dir, 'agentos.json');
  if (existsSync(own)) return { manifest: parseManifest(readFileSync(own), own), from: own };
  const pkg = join(dir, 'package.json');
  if (existsSync(pkg)) {
    let field: unknown;
    try {
      field = (JSON.parse(readFileSync(pkg, 'utf8')) as { agentos?: unknown }).agentos;
    } catch (e) {
      throw new AgentOSError('AOS_E_BAD_MANIFEST', `${pkg} is not valid JSON (${(e as Error).message})`);
    }
    if (field !== undefined) return { manifest: parseManifest(field, `${pkg} (agentos)`), from: pkg };
  }
  throw new AgentOSError(
    'AOS_E_BAD_MANIFEST',
    `no manifest for ${entry}: write agentos.json beside it (name, version, publisher, description, world, capabilities), or an "agentos" field in package.json, or pass --manifest FILE`,
  );
}
