/**
 * The loader: component bytes in, a verified, transpiled, compiled component out.
 *
 * 1. verify: wasm at all, a component (not a core module), not truncated, parses;
 * 2. inspect: imports, exports, and the world (agent or skill) whose signatures the exports
 *    match (kernel/loader/world-check.ts); cached by digest;
 * 3. transpile with jco and meter every core module with the fuel pass (transpile-cache.ts),
 *    once per code digest; a module that uses the pass's reserved names is refused
 *    (AOS_E_RESERVED_NAME);
 * 4. compile the core modules once per kernel, each checked to carry its meter (cached ones
 *    too); workers receive the compiled `WebAssembly.Module`s;
 * 5. keep the bytes content-addressed in the data dir (`components/<sha256>.wasm`) — spawn does
 *    this last, once every check has passed.
 *
 * @example
 * const loader = new Loader('./.agentos');
 * const bytes = await readComponent('echo.wasm');
 * const info = await loader.inspect(bytes, 'echo.wasm');   // info.world: 'agent'
 * const loaded = await loader.load(info, bytes);
 * loader.keep(bytes, info.digest);
 */
import '../base/wasm-features.js'; // first: extended-const before any compile
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { componentWit } from '@bytecodealliance/jco';
import type { Logger } from 'pino';
import { writeFileAtomic } from '../base/atomic-write.js';
import { AgentOSError } from '../base/errors.js';
import { readWasmHeader } from '../base/wasm-header.js';
import { missingMeter } from '../fuel/names.js';
import { type Manifest, readManifest } from '../signing/manifest.js';
import { sha256 } from './digest.js';
import { boundedForProcess as bounded } from './memory-maximum.js';
import { PathDigests } from './path-digests.js';
import { malformed, TranspileCache } from './transpile-cache.js';
import { type ComponentWorld, checkExports, revealKernelTypes } from './world-check.js';

export { BUILD, JCO_VERSION, TRANSPILE_OPTIONS } from './transpile-cache.js';
export type { ComponentWorld } from './world-check.js';

/** What `agentos inspect` shows. */
export interface ComponentInfo {
  digest: string;
  size: number;
  world: ComponentWorld;
  /** Imported interfaces (`agentos:kernel/log@0.1.0`) and inline imports (`name`). */
  imports: string[];
  /** Exported functions and interfaces, as the WIT declares them. */
  exports: { name: string; signature: string }[];
  /** Why the exports fit no world (world `unknown`): sentences after the component's name. */
  exportProblems: string[];
  /** The component's world in WIT, as wasm-tools prints it. */
  wit: string;
  /** Its embedded manifest (kernel/signing/manifest.ts), or null when it has none. */
  manifest: Manifest | null;
}

export interface LoadedComponent {
  info: ComponentInfo;
  /** file: URL of the transpiled glue module. */
  glueUrl: string;
  /** Compiled core modules by the name the glue asks for. */
  modules: Record<string, WebAssembly.Module>;
}

export { sha256 } from './digest.js';

const IFACE_IMPORT = /^([a-z][a-z0-9-]*:[a-z][a-z0-9-]*\/[a-z][a-z0-9-]*(?:@[0-9A-Za-z.+-]+)?);$/;

/** Reads the world's imports and exports from wasm-tools' WIT rendering of the component. */
function parseWorld(wit: string): Pick<ComponentInfo, 'imports' | 'exports'> {
  const imports: string[] = [];
  const exports: { name: string; signature: string }[] = [];
  let depth = 0;
  for (const raw of wit.split('\n')) {
    const line = raw.trim();
    // Only lines directly inside `world root { ... }` (depth 1) are the world's items.
    if (depth === 1 && (line.startsWith('import ') || line.startsWith('export '))) {
      const isImport = line.startsWith('import ');
      const rest = line.slice(7);
      const iface = IFACE_IMPORT.exec(rest);
      const name = iface ? iface[1]! : rest.split(/[:;\s]/)[0]!;
      if (isImport) imports.push(name);
      else exports.push({ name, signature: rest.replace(/;$/, '') });
    }
    for (const ch of line) {
      if (ch === '{') depth++;
      else if (ch === '}') depth--;
    }
  }
  return { imports, exports };
}

/**
 * Reads a component (or core module) file.
 * @throws AgentOSError AOS_E_COMPONENT_NOT_FOUND naming the path and why
 */
export async function readComponent(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (e) {
    throw new AgentOSError('AOS_E_COMPONENT_NOT_FOUND', `cannot read ${path}: ${(e as Error).message}`, {
      path,
    });
  }
}

/**
 * Verifies and inspects component bytes without transpiling them.
 * @throws AgentOSError AOS_E_NOT_WASM, AOS_E_TRUNCATED, AOS_E_NOT_COMPONENT, AOS_E_MALFORMED_COMPONENT,
 *   AOS_E_BAD_MANIFEST
 */
export async function inspectComponent(
  bytes: Uint8Array,
  what: string,
  digest?: string,
): Promise<ComponentInfo> {
  readWasmHeader(bytes, what, 'component');
  let wit: string;
  let revealed: string;
  try {
    wit = await componentWit(bytes);
    // Printed again with the kernel's types inside the component's own package, so the export
    // check sees their structure, not just their names.
    const renamed = revealKernelTypes(bytes);
    revealed = renamed ? await componentWit(renamed) : wit;
  } catch (e) {
    throw malformed(e, `${what} does not parse as a component`);
  }
  const { imports, exports } = parseWorld(wit);
  const { world, problems } = checkExports(revealed);
  const manifest = readManifest(bytes, what);
  return {
    digest: digest ?? sha256(bytes),
    size: bytes.length,
    world,
    imports,
    exports,
    exportProblems: problems,
    wit,
    manifest,
  };
}

/** Bump when what inspectComponent reads changes, so cached inspections are redone. */
const INSPECT_VERSION = 3;

/** Transpiles and compiles components, caching both. */
export class Loader {
  private readonly compiled = new Map<string, Promise<LoadedComponent>>();
  /** `fromStore` loads under way, until `compiled` has them. */
  private readonly fromStoreLoads = new Map<string, Promise<LoadedComponent>>();

  /**
   * @param home the data dir (component bytes live in `home/components`)
   * @param cacheDir where transpiled glue is cached; default `home/cache`. Several data dirs may share one.
   */
  /** Inspections by digest: the same bytes, the same answer. */
  private readonly inspected = new Map<string, ComponentInfo>();
  /** Stored components read back for spawns by digest. */
  private readonly storedByDigest = new Map<string, Promise<{ bytes: Uint8Array; info: ComponentInfo }>>();
  /** What files spawned by path held when last read (path-digests.ts). */
  readonly paths = new PathDigests();
  private readonly cache: TranspileCache;

  constructor(
    private readonly home: string,
    readonly cacheDir: string = join(home, 'cache'),
    logger?: Logger,
    onProgress?: (message: string) => void,
  ) {
    this.cache = new TranspileCache(cacheDir, logger, onProgress);
  }

  /**
   * inspectComponent, remembered by digest in the cache dir and in memory: parsing a 12 MB
   * component's WIT takes ~30 ms. The header checks and the hash still run on every call (a
   * spawn by digest skips both: byDigest).
   */
  async inspect(bytes: Uint8Array, what: string): Promise<ComponentInfo> {
    readWasmHeader(bytes, what, 'component');
    const digest = sha256(bytes);
    // The same bytes (their digest) have the same manifest: read once per kernel.
    const seen = this.inspected.get(digest);
    if (seen) return seen;
    const info = await this.inspectUncached(bytes, what, digest);
    this.inspected.set(digest, info);
    return info;
  }

  private async inspectUncached(bytes: Uint8Array, what: string, digest: string): Promise<ComponentInfo> {
    const path = join(this.cacheDir, 'inspect', `${digest}-v${INSPECT_VERSION}.json`);
    if (existsSync(path)) {
      try {
        const cached = JSON.parse(readFileSync(path, 'utf8')) as ComponentInfo;
        // The manifest decides grants: read from the bytes themselves, never taken from a cache
        // that a shared cache dir lets others write.
        return { ...cached, manifest: readManifest(bytes, what) };
      } catch {
        // A damaged cache entry: inspect again below and overwrite it.
      }
    }
    const info = await inspectComponent(bytes, what, digest);
    mkdirSync(join(this.cacheDir, 'inspect'), { recursive: true });
    writeFileAtomic(path, JSON.stringify(info));
    return info;
  }

  /** Where the component bytes of `digest` are kept. */
  componentPath(digest: string): string {
    return join(this.home, 'components', `${digest}.wasm`);
  }

  /** Stores the bytes content-addressed, so the agent can be reloaded after a restart. */
  keep(bytes: Uint8Array, digest: string): void {
    const path = this.componentPath(digest);
    if (existsSync(path)) return;
    mkdirSync(join(this.home, 'components'), { recursive: true });
    writeFileAtomic(path, bytes);
  }

  /**
   * Reads stored bytes back (after a restart), checked against their digest: bytes changed in
   * the data dir never run under another component's name.
   * @throws AgentOSError AOS_E_COMPONENT_NOT_FOUND, AOS_E_DIGEST_MISMATCH
   */
  stored(digest: string): Uint8Array {
    const path = this.componentPath(digest);
    if (!existsSync(path)) {
      throw new AgentOSError('AOS_E_COMPONENT_NOT_FOUND', `component ${digest} is missing from ${path}`, {
        digest,
      });
    }
    const bytes = readFileSync(path);
    const got = sha256(bytes);
    if (got !== digest)
      throw new AgentOSError(
        'AOS_E_DIGEST_MISMATCH',
        `component ${digest} in ${path} was changed: its bytes now hash to ${got}`,
        { expected: digest, got },
      );
    return bytes;
  }

  /**
   * The stored component `digest` and what inspect says of it, for a spawn by digest: read back,
   * checked and inspected once per kernel, then answered from memory (no file read, no hash).
   * @throws AgentOSError AOS_E_COMPONENT_NOT_FOUND, AOS_E_DIGEST_MISMATCH
   */
  byDigest(digest: string): Promise<{ bytes: Uint8Array; info: ComponentInfo }> {
    let p = this.storedByDigest.get(digest);
    if (!p) {
      p = (async () => {
        const bytes = this.stored(digest);
        return { bytes, info: await this.inspect(bytes, `component ${digest}`) };
      })();
      p.catch(() => this.storedByDigest.delete(digest));
      this.storedByDigest.set(digest, p);
    }
    return p;
  }

  /**
   * The compiled component of stored bytes `digest`: once per digest, shared by every agent that
   * runs it (its bytes read back and checked, inspected, loaded by the first that asks), so an
   * agent's first start after a restart does not read and hash 12 MB again.
   */
  fromStore(digest: string): Promise<LoadedComponent> {
    const compiled = this.compiled.get(digest) ?? this.fromStoreLoads.get(digest);
    if (compiled) return compiled;
    const p = (async () => {
      const bytes = this.stored(digest);
      return this.load(await this.inspect(bytes, `component ${digest}`), bytes);
    })();
    this.fromStoreLoads.set(digest, p);
    // Once compiled, `compiled` has it; a failure is tried again by the next start.
    void p.then(
      () => this.fromStoreLoads.delete(digest),
      () => this.fromStoreLoads.delete(digest),
    );
    return p;
  }

  /** Transpiles (or reuses the cached glue) and compiles the core modules once per digest. */
  load(info: ComponentInfo, bytes: Uint8Array): Promise<LoadedComponent> {
    const digest = info.digest;
    let p = this.compiled.get(digest);
    if (!p) {
      p = this.compile(info, bytes);
      p.catch(() => this.compiled.delete(digest));
      this.compiled.set(digest, p);
    }
    return p;
  }

  private async compile(info: ComponentInfo, bytes: Uint8Array): Promise<LoadedComponent> {
    const dir = await this.cache.transpiled(info.digest, bytes);
    const meta = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8')) as { modules: string[] };
    const modules: Record<string, WebAssembly.Module> = {};
    for (const name of meta.modules) {
      const module = await WebAssembly.compile(bounded(readFileSync(join(dir, name)), join(dir, name)));
      // The fuel pass puts a meter in every module it writes; one without it must not run.
      const lacks = missingMeter(module);
      if (lacks) {
        throw new AgentOSError(
          'AOS_E_INTERNAL',
          `${join(dir, name)} is not metered (it lacks ${lacks}): the cache entry was altered, or an older kernel cached it unmetered; remove ${dir} to meter the component again`,
          { path: join(dir, name) },
        );
      }
      modules[name] = module;
    }
    return { info, glueUrl: pathToFileURL(join(dir, 'component.mjs')).href, modules };
  }

  /** The cache dir holding the transpiled glue and metered modules for `digest`, creating it if absent. */
  transpiled(digest: string, bytes: Uint8Array): Promise<string> {
    return this.cache.transpiled(digest, bytes);
  }
}
