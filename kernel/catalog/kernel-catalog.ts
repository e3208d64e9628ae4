/**
 * `kernel.catalog`: the embedding API of the skill catalog and of publishing. Installing,
 * updating, rolling back and uninstalling change the catalog alone; a running agent keeps the
 * version it was spawned with until `kernel.upgrade(id)` restarts it on the current one.
 *
 * @example
 * await kernel.catalog.install('dist/text-stats.wasm');
 * const id = await kernel.spawn('text-stats@^1.2');
 * await kernel.catalog.publish('dist/text-stats.wasm', 'file:./skills');
 * await other.catalog.pull('file:./skills', 'agentos-dev/text-stats:1.0.0');
 */
import type { CatalogEntry } from './catalog.js';
import { type InstallOptions, type InstallParts, installComponent } from './install.js';
import { type Published, publishComponent, publishedVersions, pullComponent } from './publish.js';

/** What the catalog API needs of the kernel: its parts, and a check that it is still open. */
export interface CatalogParts extends InstallParts {
  check(): void;
}

export type Installed = CatalogEntry & { current: boolean };

export class KernelCatalog {
  constructor(private readonly parts: CatalogParts) {}

  /**
   * Installs a signed component (a path or its bytes) beside the versions already there; the
   * first version of a name becomes current. `spawn('name@range')` then spawns it. Refused, like
   * spawn, before anything is stored (docs/signing.md), and with AOS_E_ALREADY_INSTALLED for a
   * version installed with other bytes unless `force`.
   */
  install(component: string | Uint8Array, options: InstallOptions = {}): Promise<Installed> {
    this.parts.check();
    return installComponent(this.parts, component, options);
  }

  /** Installs a version and makes it current; the one it replaces is what `rollback` returns to. */
  update(component: string | Uint8Array, options: { force?: boolean } = {}): Promise<Installed> {
    return this.install(component, { ...options, makeCurrent: true });
  }

  /** Makes the version current before the current one current again. */
  rollback(name: string): Promise<CatalogEntry> {
    this.parts.check();
    return this.parts.catalog.rollback(name);
  }

  /** Removes one version of `name`, or all of them; running agents keep their bytes. Returns the versions removed. */
  uninstall(name: string, version?: string): Promise<string[]> {
    this.parts.check();
    return this.parts.catalog.uninstall(name, version);
  }

  /** Every installed version, by name then version, marking the current ones. */
  list(): Installed[] {
    this.parts.check();
    return this.parts.catalog.list();
  }

  /** Current installed components matching a name part, a requested capability and words of their descriptions. */
  search(query: { name?: string; capability?: string; text?: string }): CatalogEntry[] {
    this.parts.check();
    return this.parts.catalog.search(query);
  }

  /** The installed version `ref` (`name`, `name@range`) names; or the skill providing `tool` (within `range`). */
  resolve(ref: string): CatalogEntry;
  resolve(query: { tool: string; range?: string }): CatalogEntry;
  resolve(q: string | { tool: string; range?: string }): CatalogEntry {
    this.parts.check();
    return typeof q === 'string' ? this.parts.catalog.resolve(q) : this.parts.catalog.tool(q.tool, q.range);
  }

  /**
   * Publishes a signed component to a registry (`http://host:port`, or `file:<dir>` for a
   * directory of OCI image layouts) as `<publisher>/<name>:<version>`, once this kernel's policy
   * admits it; a version already there is AOS_E_ALREADY_PUBLISHED unless `force`.
   */
  publish(
    component: string | Uint8Array,
    registry: string,
    options: { force?: boolean } = {},
  ): Promise<Published> {
    this.parts.check();
    return publishComponent(this.parts, component, registry, options);
  }

  /** Pulls `publisher/name:version` from a registry, checks its digests, and installs it. */
  pull(
    registry: string,
    reference: string,
    options: InstallOptions = {},
  ): Promise<Installed & { pulledMs: number }> {
    this.parts.check();
    return pullComponent(this.parts, registry, reference, options);
  }

  /** The versions of `publisher/name` in a registry (its tags), sorted as the registry lists them. */
  published(registry: string, repo: string): Promise<string[]> {
    this.parts.check();
    return publishedVersions(registry, repo);
  }
}
