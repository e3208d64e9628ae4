/**
 * A registry in a plain directory, for offline use: each repository `publisher/name` is an OCI
 * image layout (`oci-layout`, `index.json`, `blobs/sha256/<hex>`) at `<root>/publisher/name`, the
 * tag in each index entry's `org.opencontainers.image.ref.name` annotation, so any OCI tool that
 * reads layouts (`oras`, `skopeo`) reads it too. The artifact is the same as over HTTP, and so
 * are the checks on pull: every blob against its digest and size, every digest a sha256 (so an
 * edited index cannot name a path outside the layout).
 *
 * Blobs are written aside, flushed and renamed into place; the index is rewritten the same way,
 * under `index.json.lock` (taken over from a process that is gone), so two publishers never lose
 * each other's tags and a reader never sees half an index.
 *
 * @example
 * const reg = new LayoutRegistry('/srv/skills');
 * await reg.push('acme/text-stats', '1.2.0', bytes, { name: 'text-stats' });
 * const { bytes } = await reg.pull('acme/text-stats', '1.2.0');
 */
import { randomBytes } from 'node:crypto';
import { promises as fs, type Stats } from 'node:fs';
import { join } from 'node:path';
import { pid } from 'node:process';
import { setTimeout as sleep } from 'node:timers/promises';
import { AgentOSError } from '../base/errors.js';
import {
  type ComponentRegistry,
  checkBlob,
  componentLayer,
  type Descriptor,
  DIGEST,
  digestOf,
  MAX_MANIFEST,
  OCI_MANIFEST,
  type Pulled,
  parseManifest,
  wasmArtifact,
} from './artifact.js';

const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const REF_NAME = 'org.opencontainers.image.ref.name';
/** One path segment of a repository name: never `.`, `..` or anything with a slash. */
const SEGMENT = /^[a-z0-9][a-z0-9._-]{0,63}$/;
/** How long a live publisher's lock is waited for. */
const LOCK_WAIT_MS = 10_000;

interface Index {
  schemaVersion: 2;
  mediaType: string;
  manifests: (Descriptor & { annotations?: Record<string, string> })[];
}

const missing = (e: unknown): boolean => (e as NodeJS.ErrnoException).code === 'ENOENT';

export class LayoutRegistry implements ComponentRegistry {
  readonly base: string;

  constructor(
    /** The registry's directory (absolute). */
    private readonly root: string,
    private readonly maxBytes = 256 << 20,
  ) {
    this.base = `file:${root}`;
  }

  private dir(repo: string): string {
    const parts = repo.split('/');
    if (parts.length !== 2 || !parts.every((p) => SEGMENT.test(p)))
      throw new AgentOSError('AOS_E_BAD_ARGUMENT', `${JSON.stringify(repo)} is not publisher/name`);
    return join(this.root, ...parts);
  }

  private blobPath(repo: string, digest: string): string {
    return join(this.dir(repo), 'blobs', 'sha256', digest.slice('sha256:'.length));
  }

  private fail(what: string, e: unknown): never {
    if (e instanceof AgentOSError) throw e;
    throw new AgentOSError(
      'AOS_E_REGISTRY',
      `${what} in the registry ${this.base}: ${(e as Error).message}`,
      {
        registry: this.base,
      },
    );
  }

  /** A regular file's bytes, at most `max` of them, or null when there is none. */
  private async read(path: string, max: number, what: string): Promise<Buffer | null> {
    let st: Stats;
    try {
      st = await fs.stat(path);
    } catch (e) {
      if (missing(e)) return null;
      return this.fail(`reading ${what}`, e);
    }
    if (!st.isFile()) this.fail(`reading ${what}`, new Error(`${path} is not a regular file`));
    if (st.size > max) this.fail(`reading ${what}`, new Error(`it is ${st.size} bytes, more than ${max}`));
    try {
      return await fs.readFile(path);
    } catch (e) {
      return missing(e) ? null : this.fail(`reading ${what}`, e);
    }
  }

  /** The repository's index: empty when the repository does not exist. */
  private async index(repo: string): Promise<Index> {
    try {
      await fs.access(this.root);
    } catch (e) {
      this.fail('looking up the registry', e);
    }
    const raw = await this.read(join(this.dir(repo), 'index.json'), MAX_MANIFEST, `the index of ${repo}`);
    if (!raw) return { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] };
    let index: Index;
    try {
      index = JSON.parse(raw.toString('utf8')) as Index;
    } catch {
      return this.fail(`reading the index of ${repo}`, new Error('it is not JSON'));
    }
    if (index?.schemaVersion !== 2 || !Array.isArray(index.manifests))
      this.fail(`reading the index of ${repo}`, new Error('it is not an OCI image index'));
    return index;
  }

  private static tagOf(d: Index['manifests'][number]): string | undefined {
    const name = d?.annotations?.[REF_NAME];
    return typeof name === 'string' ? name : undefined;
  }

  async has(repo: string, tag: string): Promise<boolean> {
    return (await this.index(repo)).manifests.some((d) => LayoutRegistry.tagOf(d) === tag);
  }

  async tags(repo: string): Promise<string[]> {
    const tags = (await this.index(repo)).manifests.map(LayoutRegistry.tagOf);
    return [...new Set(tags.filter((t): t is string => t !== undefined))].sort();
  }

  /** Writes `bytes` at `path` so it appears whole or not at all. */
  private static async writeWhole(path: string, bytes: Uint8Array): Promise<void> {
    const tmp = `${path}.${pid}.${randomBytes(4).toString('hex')}.tmp`;
    const f = await fs.open(tmp, 'wx', 0o644);
    try {
      await f.writeFile(bytes);
      await f.datasync();
    } finally {
      await f.close();
    }
    await fs.rename(tmp, path);
  }

  private async putBlob(repo: string, bytes: Uint8Array): Promise<string> {
    const digest = digestOf(bytes);
    const path = this.blobPath(repo, digest);
    const there = await this.read(path, bytes.length, 'a blob').catch(() => null);
    // A blob is named by its content: one already there is kept if it still is that content.
    if (there && digestOf(there) === digest) return digest;
    await LayoutRegistry.writeWhole(path, bytes);
    return digest;
  }

  async push(
    repo: string,
    tag: string,
    component: Uint8Array,
    config: Record<string, unknown>,
  ): Promise<string> {
    const dir = this.dir(repo);
    try {
      await fs.mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
      await fs.writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
      const { manifest, configBytes } = wasmArtifact(component, config);
      await this.putBlob(repo, configBytes);
      await this.putBlob(repo, component);
      const digest = await this.putBlob(repo, manifest);
      await this.locked(dir, async () => {
        const index = await this.index(repo);
        index.manifests = index.manifests.filter((d) => LayoutRegistry.tagOf(d) !== tag);
        index.manifests.push({
          mediaType: OCI_MANIFEST,
          digest,
          size: manifest.length,
          annotations: { [REF_NAME]: tag },
        });
        await LayoutRegistry.writeWhole(join(dir, 'index.json'), Buffer.from(JSON.stringify(index)));
      });
      return digest;
    } catch (e) {
      return this.fail(`pushing ${repo}:${tag}`, e);
    }
  }

  /** Runs `f` holding the repository's lock; a lock left by a process that is gone is taken over. */
  private async locked(dir: string, f: () => Promise<void>): Promise<void> {
    const lock = join(dir, 'index.json.lock');
    const until = Date.now() + LOCK_WAIT_MS;
    for (;;) {
      try {
        await fs.writeFile(lock, String(pid), { flag: 'wx' });
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const holder = Number((await fs.readFile(lock, 'utf8').catch(() => '')).trim());
      if (Number.isSafeInteger(holder) && holder > 0 && !alive(holder)) {
        await fs.rm(lock, { force: true });
        continue;
      }
      if (Date.now() > until)
        throw new Error(`${lock} is held by process ${holder || '?'} for more than ${LOCK_WAIT_MS / 1000} s`);
      await sleep(10);
    }
    try {
      await f();
    } finally {
      await fs.rm(lock, { force: true });
    }
  }

  async pull(repo: string, tag: string): Promise<Pulled> {
    const what = `${repo}:${tag}`;
    const found = (await this.index(repo)).manifests.filter((d) => LayoutRegistry.tagOf(d) === tag);
    if (found.length === 0)
      throw new AgentOSError('AOS_E_NOT_INSTALLED', `${what} is not in the registry ${this.base}`, {
        repo,
        tag,
      });
    if (found.length > 1) this.fail(`pulling ${what}`, new Error('its index names the tag more than once'));
    const d = found[0]!;
    if (typeof d.digest !== 'string' || !DIGEST.test(d.digest))
      this.fail(
        `pulling ${what}`,
        new Error(`its index names the manifest by ${JSON.stringify(d.digest)}, not a sha256 digest`),
      );
    const raw = await this.read(this.blobPath(repo, d.digest), MAX_MANIFEST, `the manifest of ${what}`);
    if (!raw) return this.fail(`pulling ${what}`, new Error(`its manifest ${d.digest} is missing`));
    checkBlob(raw, d, `the manifest of ${what}`);
    const manifest = parseManifest(raw, what);
    const layer = componentLayer(manifest, what, this.maxBytes);
    // One byte more than declared is read, so a longer blob fails the size check instead of being cut.
    const bytes = await this.read(
      this.blobPath(repo, layer.digest),
      this.maxBytes + 1,
      `the component of ${what}`,
    );
    if (!bytes) return this.fail(`pulling ${what}`, new Error(`its component ${layer.digest} is missing`));
    checkBlob(bytes, layer, `the component of ${what}`);
    return { bytes, manifest, digest: layer.digest };
  }
}

/** Whether process `id` exists (a lock's holder). */
function alive(id: number): boolean {
  try {
    process.kill(id, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
