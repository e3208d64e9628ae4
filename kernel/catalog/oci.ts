/**
 * A client for the OCI distribution API, enough to publish and pull wasm components as OCI
 * artifacts: an image manifest whose config has the media type
 * `application/vnd.wasm.config.v0+json` and whose one layer is the `application/wasm` component;
 * the tag is the component's version. Every blob pulled is checked against its digest before it
 * is returned.
 *
 * @example
 * const reg = new OciRegistry('http://127.0.0.1:5000');
 * await reg.push('acme/text-stats', '1.2.0', bytes, { name: 'text-stats' });
 * await reg.tags('acme/text-stats');          // ['1.2.0']
 * const pulled = await reg.pull('acme/text-stats', '1.2.0');
 */
import { AgentOSError } from '../base/errors.js';
import {
  type ComponentRegistry,
  checkBlob,
  componentLayer,
  digestOf,
  MAX_MANIFEST,
  OCI_MANIFEST,
  type Pulled,
  parseManifest,
  wasmArtifact,
} from './artifact.js';

export class OciRegistry implements ComponentRegistry {
  constructor(
    /** `http://host:port` (no path). */
    readonly base: string,
    private readonly maxBytes = 256 << 20,
  ) {}

  private async call(path: string, init: RequestInit, what: string): Promise<Response> {
    try {
      return await fetch(`${this.base}${path}`, { ...init, redirect: 'follow' });
    } catch (e) {
      throw new AgentOSError(
        'AOS_E_REGISTRY',
        `the registry ${this.base} cannot be reached for ${what}: ${(e as Error).cause ?? (e as Error).message}`,
        { registry: this.base },
      );
    }
  }

  private static async fail(r: Response, what: string): Promise<never> {
    const text = (await r.text().catch(() => '')).slice(0, 300);
    throw new AgentOSError('AOS_E_REGISTRY', `${what}: the registry answered ${r.status} ${text}`.trim(), {
      status: r.status,
    });
  }

  private async pushBlob(repo: string, bytes: Uint8Array): Promise<string> {
    const digest = digestOf(bytes);
    const head = await this.call(`/v2/${repo}/blobs/${digest}`, { method: 'HEAD' }, 'a blob');
    if (head.ok) return digest;
    const start = await this.call(`/v2/${repo}/blobs/uploads/`, { method: 'POST' }, 'an upload');
    if (start.status !== 202) await OciRegistry.fail(start, `starting an upload to ${repo}`);
    const location = new URL(start.headers.get('location') ?? '', this.base);
    location.searchParams.set('digest', digest);
    const put = await this.call(
      location.pathname + location.search,
      { method: 'PUT', body: bytes, headers: { 'content-type': 'application/octet-stream' } },
      'an upload',
    );
    if (put.status !== 201) await OciRegistry.fail(put, `uploading a blob to ${repo}`);
    return digest;
  }

  /** Whether `repo` has tag `tag`. */
  async has(repo: string, tag: string): Promise<boolean> {
    const r = await this.call(
      `/v2/${repo}/manifests/${tag}`,
      { method: 'HEAD', headers: { accept: OCI_MANIFEST } },
      'a tag',
    );
    if (r.status === 404) return false;
    if (!r.ok) await OciRegistry.fail(r, `looking up ${repo}:${tag}`);
    return true;
  }

  /**
   * Pushes the component as `repo:tag`; returns the manifest's digest. The distribution API has
   * no conditional manifest PUT, so whether the tag is new is checked before (publish.ts `has`),
   * not atomically.
   */
  async push(
    repo: string,
    tag: string,
    component: Uint8Array,
    config: Record<string, unknown>,
  ): Promise<string> {
    const { manifest, configBytes } = wasmArtifact(component, config);
    await this.pushBlob(repo, configBytes);
    await this.pushBlob(repo, component);
    const r = await this.call(
      `/v2/${repo}/manifests/${tag}`,
      { method: 'PUT', body: manifest, headers: { 'content-type': OCI_MANIFEST } },
      'a manifest',
    );
    if (r.status !== 201) await OciRegistry.fail(r, `pushing ${repo}:${tag}`);
    return digestOf(manifest);
  }

  /** The tags of `repo` (none when it does not exist). */
  async tags(repo: string): Promise<string[]> {
    const r = await this.call(`/v2/${repo}/tags/list`, { method: 'GET' }, 'the tags');
    if (r.status === 404) return [];
    if (!r.ok) await OciRegistry.fail(r, `listing the tags of ${repo}`);
    const body = (await r.json()) as { tags?: string[] | null };
    return body.tags ?? [];
  }

  /** Reads a response body up to `max` bytes, refusing one that is longer or shorter than it says. */
  private static async body(r: Response, max: number, what: string): Promise<Buffer> {
    const declared = Number(r.headers.get('content-length') ?? Number.NaN);
    if (declared > max)
      throw new AgentOSError('AOS_E_REGISTRY', `${what} is ${declared} bytes, more than ${max}`);
    let bytes: Buffer;
    try {
      bytes = Buffer.from(await r.arrayBuffer());
    } catch (e) {
      throw new AgentOSError('AOS_E_REGISTRY', `${what} was cut off: ${(e as Error).message}`);
    }
    if (bytes.length > max) throw new AgentOSError('AOS_E_REGISTRY', `${what} is more than ${max} bytes`);
    if (Number.isFinite(declared) && bytes.length !== declared) {
      throw new AgentOSError(
        'AOS_E_DIGEST_MISMATCH',
        `${what} was cut off: ${bytes.length} of ${declared} bytes`,
      );
    }
    return bytes;
  }

  /** The component tagged `repo:tag`, checked against the digests its manifest names. */
  async pull(repo: string, tag: string): Promise<Pulled> {
    const what = `${repo}:${tag}`;
    const r = await this.call(
      `/v2/${repo}/manifests/${tag}`,
      { headers: { accept: OCI_MANIFEST } },
      'a manifest',
    );
    if (r.status === 404) {
      throw new AgentOSError('AOS_E_NOT_INSTALLED', `${what} is not in the registry ${this.base}`, {
        repo,
        tag,
      });
    }
    if (!r.ok) await OciRegistry.fail(r, `pulling ${what}`);
    const manifest = parseManifest(await OciRegistry.body(r, MAX_MANIFEST, `the manifest of ${what}`), what);
    const layer = componentLayer(manifest, what, this.maxBytes);
    const b = await this.call(`/v2/${repo}/blobs/${layer.digest}`, {}, 'the component');
    if (!b.ok) await OciRegistry.fail(b, `pulling the component of ${what}`);
    const bytes = await OciRegistry.body(b, this.maxBytes, `the component of ${what}`);
    checkBlob(bytes, layer, `the component of ${what}`);
    return { bytes, manifest, digest: layer.digest };
  }
}
