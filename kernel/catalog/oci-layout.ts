/**
 * A registry in a plain directory, for offline use: each repository `publisher/name` is an OCI
 * image layout (`oci-layout`, `index.json`, `blobs/sha256/<hex>`) at `<root>/publisher/name`, the
 * tag in each index entry's `org.opencontainers.image.ref.name` annotation, so any OCI tool that
 * reads layouts (`oras`, `skopeo`) reads it too. The artifact is the same as over HTTP, and so
 * are the checks on pull: every blob against its digest and size, every digest a sha256 (so an
 * edited index cannot name a path outside the layout), only regular files read.
 *
 * Nothing is locked, so nothing is left locked by a publisher that died. Every file is written
 * aside, flushed and renamed into place (a reader never sees half of one; a planted symlink is
 * replaced, not written through). Each tag's descriptor is its own file, `refs/<tag>.json`,
 * created exclusively (a hard link, which fails if the tag exists: of two publishers of one
 * version, one wins) unless forced; `index.json` is then rebuilt from `refs/` until a fresh
 * listing matches what was written, so the last publisher's index holds every tag. A reader takes
 * a tag from `refs/` first, then from `index.json` (a layout another tool wrote has only that).
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
/** A tag, which names a file under refs/: never `.`, `..` or anything with a slash. */
const TAG = /^[0-9A-Za-z][0-9A-Za-z._+-]{0,127}$/;
/** How often an index is rebuilt while other publishers keep adding tags, at most. */
const REBUILDS = 20;

type Entry = Descriptor & { annotations?: Record<string, string> };

interface Index {
  schemaVersion: 2;
  mediaType: string;
  manifests: Entry[];
}

const missing = (e: unknown): boolean => (e as NodeJS.ErrnoException).code === 'ENOENT';
const tagOf = (d: Entry): string | undefined => {
  const name = d?.annotations?.[REF_NAME];
  return typeof name === 'string' ? name : undefined;
};

/** Writes `bytes` at `path` so it appears whole or not at all (a symlink there is replaced). */
async function writeWhole(path: string, bytes: Uint8Array): Promise<void> {
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

/** Writes `bytes` at `path` only if nothing is there: false if something is. */
async function createOnly(path: string, bytes: Uint8Array): Promise<boolean> {
  const tmp = `${path}.${pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeWhole(tmp, bytes);
  try {
    await fs.link(tmp, path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    await fs.rm(tmp, { force: true });
  }
}

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
    const parts = typeof repo === 'string' ? repo.split('/') : [];
    if (parts.length !== 2 || !parts.every((p) => SEGMENT.test(p)))
      throw new AgentOSError('AOS_E_BAD_ARGUMENT', `${JSON.stringify(repo)} is not publisher/name`);
    return join(this.root, ...parts);
  }

  private tagFile(repo: string, tag: string): string {
    if (typeof tag !== 'string' || !TAG.test(tag))
      throw new AgentOSError('AOS_E_BAD_ARGUMENT', `${JSON.stringify(tag)} is not a tag`);
    return join(this.dir(repo), 'refs', `${tag}.json`);
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

  private async json<T>(path: string, what: string): Promise<T | null> {
    const raw = await this.read(path, MAX_MANIFEST, what);
    if (!raw) return null;
    try {
      return JSON.parse(raw.toString('utf8')) as T;
    } catch {
      return this.fail(`reading ${what}`, new Error('it is not JSON'));
    }
  }

  /** The repository's index.json: empty when there is none. */
  private async index(repo: string): Promise<Index> {
    try {
      await fs.access(this.root);
    } catch (e) {
      this.fail('looking up the registry', e);
    }
    const index = await this.json<Index>(join(this.dir(repo), 'index.json'), `the index of ${repo}`);
    if (!index) return { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] };
    if (index?.schemaVersion !== 2 || !Array.isArray(index.manifests))
      this.fail(`reading the index of ${repo}`, new Error('it is not an OCI image index'));
    return index;
  }

  /** The descriptor of `tag` in refs/, or null. */
  private ref(repo: string, tag: string): Promise<Entry | null> {
    return this.json<Entry>(this.tagFile(repo, tag), `tag ${repo}:${tag}`);
  }

  /** The descriptors in refs/, by tag. */
  private async refs(repo: string): Promise<Map<string, Entry>> {
    const out = new Map<string, Entry>();
    let names: string[];
    try {
      names = await fs.readdir(join(this.dir(repo), 'refs'));
    } catch (e) {
      return missing(e) ? out : this.fail(`listing the tags of ${repo}`, e);
    }
    for (const name of names) {
      const tag = name.slice(0, -'.json'.length);
      if (!name.endsWith('.json') || !TAG.test(tag)) continue; // a file being written aside
      const ref = await this.ref(repo, tag);
      if (ref) out.set(tag, ref);
    }
    return out;
  }

  async has(repo: string, tag: string): Promise<boolean> {
    if (await this.ref(repo, tag)) return true;
    return (await this.index(repo)).manifests.some((d) => tagOf(d) === tag);
  }

  async tags(repo: string): Promise<string[]> {
    const indexed = (await this.index(repo)).manifests.map(tagOf);
    const all = [...(await this.refs(repo)).keys(), ...indexed.filter((t): t is string => t !== undefined)];
    return [...new Set(all)].sort();
  }

  private async putBlob(repo: string, bytes: Uint8Array): Promise<string> {
    const digest = digestOf(bytes);
    const path = this.blobPath(repo, digest);
    const there = await this.read(path, bytes.length, 'a blob').catch(() => null);
    // A blob is named by its content: one already there is kept if it still is that content.
    if (there && digestOf(there) === digest) return digest;
    await writeWhole(path, bytes);
    return digest;
  }

  /**
   * Pushes the component as `repo:tag`; returns the manifest's digest. Without `force`, a tag
   * already there is AOS_E_ALREADY_PUBLISHED, decided atomically.
   */
  async push(
    repo: string,
    tag: string,
    component: Uint8Array,
    config: Record<string, unknown>,
    options: { force?: boolean } = {},
  ): Promise<string> {
    const dir = this.dir(repo);
    const file = this.tagFile(repo, tag);
    try {
      await fs.mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
      await fs.mkdir(join(dir, 'refs'), { recursive: true });
      await writeWhole(join(dir, 'oci-layout'), Buffer.from('{"imageLayoutVersion":"1.0.0"}'));
      const { manifest, configBytes } = wasmArtifact(component, config);
      await this.putBlob(repo, configBytes);
      await this.putBlob(repo, component);
      const digest = await this.putBlob(repo, manifest);
      const entry: Entry = {
        mediaType: OCI_MANIFEST,
        digest,
        size: manifest.length,
        annotations: { [REF_NAME]: tag },
      };
      const body = Buffer.from(JSON.stringify(entry));
      const indexedOnly = (await this.index(repo)).manifests.some((d) => tagOf(d) === tag);
      if (options.force) await writeWhole(file, body);
      else if (indexedOnly || !(await createOnly(file, body)))
        throw new AgentOSError(
          'AOS_E_ALREADY_PUBLISHED',
          `${repo}:${tag} is already in ${this.base}; publish a new version, or force`,
          { repo, version: tag },
        );
      await this.rebuildIndex(repo);
      return digest;
    } catch (e) {
      return this.fail(`pushing ${repo}:${tag}`, e);
    }
  }

  /**
   * Rewrites index.json from refs/ (keeping the entries of tags only index.json names), again
   * while a fresh listing of refs/ differs from what was written: of publishers racing, the last
   * to write has seen every tag the others wrote before it.
   */
  private async rebuildIndex(repo: string): Promise<void> {
    const key = (m: Map<string, Entry>): string =>
      JSON.stringify([...m].map(([t, d]) => [t, d.digest]).sort());
    let refs = await this.refs(repo);
    for (let i = 0; i < REBUILDS; i++) {
      const index = await this.index(repo);
      const others = index.manifests.filter((d) => {
        const tag = tagOf(d);
        return tag === undefined || !refs.has(tag);
      });
      index.manifests = [...others, ...refs.values()];
      await writeWhole(join(this.dir(repo), 'index.json'), Buffer.from(JSON.stringify(index)));
      const now = await this.refs(repo);
      if (key(now) === key(refs)) return;
      refs = now;
    }
  }

  async pull(repo: string, tag: string): Promise<Pulled> {
    const what = `${repo}:${tag}`;
    const ref = await this.ref(repo, tag);
    const found = ref ? [ref] : (await this.index(repo)).manifests.filter((d) => tagOf(d) === tag);
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
    const path = this.blobPath(repo, layer.digest);
    const bytes = await this.read(path, this.maxBytes + 1, `the component of ${what}`);
    if (!bytes) return this.fail(`pulling ${what}`, new Error(`its component ${layer.digest} is missing`));
    checkBlob(bytes, layer, `the component of ${what}`);
    return { bytes, manifest, digest: layer.digest };
  }
}
