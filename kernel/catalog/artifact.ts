/**
 * The wasm OCI artifact: an image manifest whose config has the media type
 * `application/vnd.wasm.config.v0+json` and whose one layer is the `application/wasm`
 * component. Both registries (OCI over HTTP, and an OCI image layout in a directory) build and
 * check it here, so they accept and refuse exactly the same artifacts.
 *
 * @example
 * const { manifest, blobs } = wasmArtifact(bytes, { name: 'text-stats', version: '1.2.0' });
 * const layer = componentLayer(JSON.parse(raw), 'acme/text-stats:1.2.0', 256 << 20);
 * checkBlob(bytesRead, layer, 'the component of acme/text-stats:1.2.0');
 */
import { createHash } from 'node:crypto';
import { AgentOSError } from '../base/errors.js';

export const WASM_CONFIG = 'application/vnd.wasm.config.v0+json';
export const WASM_LAYER = 'application/wasm';
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

/** The most a manifest (or a layout's index) may be; a component is bounded by the registry's `maxBytes`. */
export const MAX_MANIFEST = 1 << 20;

/** The only digests either registry names a blob by: it also keeps a digest from naming a path. */
export const DIGEST = /^sha256:[0-9a-f]{64}$/;

export const digestOf = (b: Uint8Array): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

export interface OciManifest {
  schemaVersion: 2;
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

/** What a pull returns: the component, checked against the manifest that names it. */
export interface Pulled {
  bytes: Buffer;
  manifest: OciManifest;
  /** The component's digest (the layer's). */
  digest: string;
}

/** A registry of wasm components, by repository (`publisher/name`) and tag (version). */
export interface ComponentRegistry {
  /** How messages name it: `http://host:port` or `file:/path`. */
  readonly base: string;
  has(repo: string, tag: string): Promise<boolean>;
  /**
   * Pushes the component as `repo:tag`; returns the manifest's digest. Without `force`, a
   * registry that can decide it atomically refuses a tag already there (AOS_E_ALREADY_PUBLISHED).
   */
  push(
    repo: string,
    tag: string,
    component: Uint8Array,
    config: Record<string, unknown>,
    options?: { force?: boolean },
  ): Promise<string>;
  /** The tags of `repo` (none when it does not exist). */
  tags(repo: string): Promise<string[]>;
  /** @throws AgentOSError AOS_E_NOT_INSTALLED (no such tag), AOS_E_REGISTRY, AOS_E_DIGEST_MISMATCH */
  pull(repo: string, tag: string): Promise<Pulled>;
}

/** The blobs and the manifest that publish `component`, with `config` in its config blob. */
export function wasmArtifact(
  component: Uint8Array,
  config: Record<string, unknown>,
): { manifest: Buffer; configBytes: Buffer } {
  const configBytes = Buffer.from(JSON.stringify({ architecture: 'wasm', os: 'wasip2', ...config }));
  const manifest: OciManifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: WASM_CONFIG, digest: digestOf(configBytes), size: configBytes.length },
    layers: [{ mediaType: WASM_LAYER, digest: digestOf(component), size: component.length }],
  };
  return { manifest: Buffer.from(JSON.stringify(manifest)), configBytes };
}

/** Parses a manifest's bytes. @throws AgentOSError AOS_E_REGISTRY */
export function parseManifest(raw: Buffer, what: string): OciManifest {
  try {
    return JSON.parse(raw.toString('utf8')) as OciManifest;
  } catch {
    throw new AgentOSError('AOS_E_REGISTRY', `the manifest of ${what} is not JSON`);
  }
}

/**
 * The component layer of a manifest, once the manifest is a wasm artifact whose layer is named
 * by a sha256 digest and is at most `maxBytes`. @throws AgentOSError AOS_E_REGISTRY
 */
export function componentLayer(manifest: OciManifest, what: string, maxBytes: number): Descriptor {
  const layers = Array.isArray(manifest?.layers) ? manifest.layers : [];
  const layer = layers[0];
  if (manifest?.config?.mediaType !== WASM_CONFIG || layers.length !== 1 || layer?.mediaType !== WASM_LAYER) {
    throw new AgentOSError(
      'AOS_E_REGISTRY',
      `${what} is not a wasm component artifact (config ${manifest?.config?.mediaType}, ${layers.length} layers)`,
    );
  }
  if (typeof layer.digest !== 'string' || !DIGEST.test(layer.digest)) {
    throw new AgentOSError(
      'AOS_E_REGISTRY',
      `${what} names its component by ${JSON.stringify(layer.digest)}, not a sha256 digest`,
    );
  }
  if (!Number.isSafeInteger(layer.size) || layer.size < 0) {
    throw new AgentOSError(
      'AOS_E_REGISTRY',
      `${what} gives its component the size ${JSON.stringify(layer.size)}`,
    );
  }
  if (layer.size > maxBytes) {
    throw new AgentOSError('AOS_E_REGISTRY', `${what} is ${layer.size} bytes, more than ${maxBytes}`);
  }
  return layer;
}

/** Refuses bytes that are not what `layer` names. @throws AgentOSError AOS_E_DIGEST_MISMATCH */
export function checkBlob(bytes: Uint8Array, layer: Descriptor, what: string): void {
  const got = digestOf(bytes);
  if (got !== layer.digest || bytes.length !== layer.size) {
    throw new AgentOSError(
      'AOS_E_DIGEST_MISMATCH',
      `${what} does not match its digest ${layer.digest} (${bytes.length} bytes, ${layer.size} expected)`,
      { expected: layer.digest, got },
    );
  }
}
