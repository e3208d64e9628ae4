/**
 * The catalog of installed components (skills and agents): several versions of each side by
 * side, one of them current, with the history `rollback` walks back. Entries live in LMDB
 * (`catalog`: [name, version] → entry; `catalog-current`: name → current version and the ones
 * before it); the bytes live content-addressed in the data dir's `components/`, like a spawned
 * agent's, and are never removed while a record may still point at them.
 *
 * Only a component the signing policy admits, with a manifest, is installed. Installing,
 * updating, rolling back and uninstalling change the catalog alone: a running agent keeps the
 * bytes it was spawned with until it is upgraded (`kernel.upgrade`).
 *
 * @example
 * catalog.install(bytes, info, provenance);          // text-stats 1.2.0, current if first
 * catalog.resolve('text-stats@^1.2');                 // the highest installed 1.x ≥ 1.2
 * catalog.search({ text: 'words' });                  // by name, capability or description
 */
import type { Database } from 'lmdb';
import semver from 'semver';
import { AgentOSError } from '../base/errors.js';
import type { Manifest } from '../signing/manifest.js';
import type { Provenance } from '../signing/policy.js';
import type { Store } from '../store/store.js';

export interface CatalogEntry {
  name: string;
  version: string;
  digest: string;
  world: 'agent' | 'skill';
  /**
   * The publisher a trusted key vouches for; for a component the policy admitted unsigned
   * (`allowUnsigned`), the one its manifest claims, unverified (`signed: false`).
   */
  publisher: string;
  /** Whether a trusted key signed it (false: admitted unsigned, its publisher unverified). */
  signed: boolean;
  /** The key that signed it; absent when the policy admitted it unsigned. */
  keyId?: string;
  description: string;
  capabilities: string[];
  tools: { name: string; description: string }[];
  /** Kernel-clock ms. */
  installedAt: number;
}

interface Current {
  version: string;
  /** The versions that were current before, most recent last (what rollback returns to). */
  before: string[];
}

/** A component reference: `name`, or `name@range` (a semver range or an exact version). */
export const REF = /^([a-z][a-z0-9-]{0,63})(?:@(.+))?$/;

export class Catalog {
  private readonly entries: Database<CatalogEntry, [string, string]>;
  private readonly current: Database<Current, string>;

  constructor(
    private readonly store: Store,
    private readonly now: () => number,
  ) {
    this.entries = store.db('catalog') as unknown as Database<CatalogEntry, [string, string]>;
    this.current = store.db('catalog-current') as unknown as Database<Current, string>;
  }

  /** Every version of `name` installed, lowest first. */
  versions(name: string): CatalogEntry[] {
    const out = [...this.entries.getRange({ start: [name, ''], end: [name, '\uffff'] })].map((e) => e.value);
    return out.sort((a, b) => semver.compare(a.version, b.version));
  }

  /** Every installed version of everything, by name then version. */
  list(): (CatalogEntry & { current: boolean })[] {
    const out: (CatalogEntry & { current: boolean })[] = [];
    for (const { value } of this.entries.getRange({})) {
      out.push({ ...value, current: this.current.get(value.name)?.version === value.version });
    }
    return out.sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : semver.compare(a.version, b.version),
    );
  }

  /**
   * Adds a version. The first version of a name becomes current; later ones become current
   * with `makeCurrent` (update). Installing the same bytes again changes nothing.
   * @throws AgentOSError AOS_E_ALREADY_INSTALLED when that version is installed with other bytes
   *   (unless `force`), AOS_E_BAD_MANIFEST when the component has no manifest.
   */
  async install(
    digest: string,
    manifest: Manifest | null,
    provenance: Provenance,
    options: { makeCurrent?: boolean; force?: boolean } = {},
  ): Promise<CatalogEntry & { current: boolean }> {
    if (!manifest) {
      throw new AgentOSError(
        'AOS_E_BAD_MANIFEST',
        'a component without a manifest cannot be installed: it has no name',
      );
    }
    const { name, version } = manifest;
    const old = this.entries.get([name, version]);
    if (old && old.digest !== digest && !options.force) {
      throw new AgentOSError(
        'AOS_E_ALREADY_INSTALLED',
        `${name}@${version} is installed with other bytes (${old.digest.slice(0, 12)}…); publish a new version, or force`,
        { name, version },
      );
    }
    const entry: CatalogEntry = {
      name,
      version,
      digest,
      world: manifest.world,
      publisher: provenance.publisher ?? manifest.publisher,
      signed: provenance.signed,
      ...(provenance.keyId ? { keyId: provenance.keyId } : {}),
      description: manifest.description,
      capabilities: [...manifest.capabilities],
      tools: (manifest.tools ?? []).map((t) => ({ name: t.name, description: t.description })),
      installedAt: old?.digest === digest ? old.installedAt : this.now(),
    };
    const cur = this.current.get(name);
    const next: Current | undefined = !cur
      ? { version, before: [] }
      : options.makeCurrent && cur.version !== version
        ? { version, before: [...cur.before.filter((v) => v !== version), cur.version] }
        : undefined;
    this.store.batch.atomic(() => {
      this.store.batch.put(this.entries, [name, version], entry);
      if (next) this.store.batch.put(this.current, name, next);
    });
    await this.store.flushed();
    return { ...entry, current: (next ?? cur)!.version === version };
  }

  /**
   * Makes the version that was current before the current one current again.
   * @throws AgentOSError AOS_E_NOT_INSTALLED (no such name), AOS_E_BAD_STATE (nothing to roll back to)
   */
  async rollback(name: string): Promise<CatalogEntry> {
    const cur = this.current.get(name);
    if (!cur) throw notInstalled(name);
    // The most recent earlier version still installed; the ones uninstalled since are skipped.
    const before = [...cur.before];
    let back = before.pop();
    while (back !== undefined && !this.entries.get([name, back])) back = before.pop();
    if (back === undefined) {
      throw new AgentOSError(
        'AOS_E_BAD_STATE',
        `${name} has no earlier version to roll back to (current ${cur.version})`,
      );
    }
    this.store.batch.put(this.current, name, { version: back, before });
    await this.store.flushed();
    return this.entries.get([name, back])!;
  }

  /**
   * Removes one version, or every version (`version` undefined). When the current version goes,
   * the highest one left becomes current. Agents spawned from it keep running.
   * @throws AgentOSError AOS_E_NOT_INSTALLED
   */
  async uninstall(name: string, version?: string): Promise<string[]> {
    const gone = this.versions(name)
      .filter((e) => version === undefined || e.version === version)
      .map((e) => e.version);
    if (gone.length === 0) throw notInstalled(version ? `${name}@${version}` : name);
    const left = this.versions(name).filter((e) => !gone.includes(e.version));
    const cur = this.current.get(name);
    this.store.batch.atomic(() => {
      for (const v of gone) this.store.batch.remove(this.entries, [name, v]);
      if (left.length === 0) this.store.batch.remove(this.current, name);
      else if (cur && gone.includes(cur.version)) {
        const before = cur.before.filter((v) => !gone.includes(v));
        this.store.batch.put(this.current, name, { version: left[left.length - 1]!.version, before });
      } else if (cur)
        this.store.batch.put(this.current, name, {
          ...cur,
          before: cur.before.filter((v) => !gone.includes(v)),
        });
    });
    await this.store.flushed();
    return gone;
  }

  /**
   * The entry a reference names: `name` its current version, `name@range` the highest version
   * installed that satisfies the range.
   * @throws AgentOSError AOS_E_BAD_ARGUMENT (not a reference), AOS_E_NOT_INSTALLED
   */
  resolve(ref: string): CatalogEntry {
    const m = REF.exec(ref);
    if (!m) throw new AgentOSError('AOS_E_BAD_ARGUMENT', `${JSON.stringify(ref)} is not name or name@range`);
    const [, name, range] = m as unknown as [string, string, string | undefined];
    if (range === undefined) {
      const cur = this.current.get(name);
      const entry = cur && this.entries.get([name, cur.version]);
      if (!entry) throw notInstalled(name);
      return entry;
    }
    if (semver.validRange(range) === null) {
      throw new AgentOSError(
        'AOS_E_BAD_ARGUMENT',
        `${JSON.stringify(range)} in ${ref} is not a semver range`,
      );
    }
    const versions = this.versions(name);
    const best = semver.maxSatisfying(
      versions.map((e) => e.version),
      range,
    );
    if (best === null) {
      const have = versions.map((e) => e.version).join(', ') || 'none';
      throw new AgentOSError(
        'AOS_E_NOT_INSTALLED',
        `no installed version of ${name} satisfies ${range} (installed: ${have})`,
        {
          name,
          range,
        },
      );
    }
    return versions.find((e) => e.version === best)!;
  }

  /**
   * The skill that provides tool `tool`: among the skills listing it, the current version of
   * the one whose name sorts first, or with `range` the highest version in range.
   * @throws AgentOSError AOS_E_NOT_INSTALLED
   */
  tool(tool: string, range?: string): CatalogEntry {
    const providers = this.list().filter((e) => e.world === 'skill' && e.tools.some((t) => t.name === tool));
    const names = [...new Set(providers.map((e) => e.name))];
    for (const name of names) {
      try {
        return this.resolve(range ? `${name}@${range}` : name);
      } catch (e) {
        if ((e as AgentOSError).code !== 'AOS_E_NOT_INSTALLED') throw e;
      }
    }
    throw new AgentOSError(
      'AOS_E_NOT_INSTALLED',
      `no installed skill provides tool ${tool}${range ? ` in ${range}` : ''}`,
      {
        tool,
      },
    );
  }

  /** Current versions matching every given criterion: a name part, a capability, words of the descriptions. */
  search(q: { name?: string; capability?: string; text?: string }): CatalogEntry[] {
    const words = (q.text ?? '').toLowerCase().split(/\s+/).filter(Boolean);
    return this.list().filter((e) => {
      if (!e.current) return false;
      if (q.name && !e.name.includes(q.name)) return false;
      if (q.capability && !e.capabilities.some((c) => c === q.capability || c.startsWith(`${q.capability}:`)))
        return false;
      const text = [e.name, e.description, ...e.tools.flatMap((t) => [t.name, t.description])]
        .join(' ')
        .toLowerCase();
      return words.every((w) => text.includes(w));
    });
  }
}

const notInstalled = (what: string): AgentOSError =>
  new AgentOSError('AOS_E_NOT_INSTALLED', `${what} is not installed`, { name: what });
