/**
 * The loader: component bytes in, a verified, transpiled, compiled component out.
 *
 * 1. verify: wasm at all, a component (not a core module), not truncated, parses;
 * 2. inspect: imports, exports, and the world (agent or skill) whose signatures the exports
 *    match (kernel/loader/world-check.ts); cached by digest;
 * 3. transpile with jco and meter every core module with the fuel pass (kernel/fuel), once
 *    per code digest (the component without its signature and manifest), cached in
 *    `cache/<sha256>-jco<version>-fuel<pass version>-glue<patch version>/`;
 *    a module that uses the pass's reserved names is refused (AOS_E_RESERVED_NAME), and a failed
 *    metering leaves no half-written cache entry;
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
import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pid } from 'node:process';
import { pathToFileURL } from 'node:url';
import { componentWit, transpile } from '@bytecodealliance/jco';
import type { Logger } from 'pino';
import { writeFileAtomic } from '../base/atomic-write.js';
import { AgentOSError } from '../base/errors.js';
import { readWasmHeader } from '../base/wasm-header.js';
import { FUEL_PASS_VERSION, missingMeter } from '../fuel/names.js';
import { FuelThread } from '../fuel/thread.js';
import { SIGNATURE_SECTION } from '../signing/format.js';
import { MANIFEST_SECTION, type Manifest, readManifest } from '../signing/manifest.js';
import { withoutCustomSections } from '../signing/sections.js';
import { GLUE_PATCH_VERSION, patchGlue } from './glue-patch.js';
import { type ComponentWorld, checkExports, revealKernelTypes } from './world-check.js';

export type { ComponentWorld } from './world-check.js';

/** Pinned in package.json; part of the cache key so a different jco never reuses old glue. */
export const JCO_VERSION = '1.35.0';

/**
 * The jco options every transpile uses: the loader's, and the benchmarks' bare baselines, so both
 * measure the same glue. jco writes its defaults into the object it is given, so pass a copy
 * (`{ ...TRANSPILE_OPTIONS }`); the constant is frozen so that passing it itself fails loudly.
 */
export const TRANSPILE_OPTIONS: Readonly<NonNullable<Parameters<typeof transpile>[1]>> = Object.freeze({
  name: 'component',
  instantiation: 'sync',
  noTypescript: true,
  quiet: true,
});

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

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

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

/** An AOS_E_MALFORMED_COMPONENT for a failure of jco's parser, with its first line as the reason. */
function malformed(e: unknown, sentence: string): AgentOSError {
  const reason = String((e as Error)?.message ?? e).split('\n')[0];
  return new AgentOSError('AOS_E_MALFORMED_COMPONENT', `${sentence}: ${reason}`, {}, { cause: e });
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
/**
 * What a component's metered core modules depend on besides its bytes: a snapshot of an instance
 * fits only an instance of modules built the same way.
 */
export const BUILD = `jco${JCO_VERSION}-fuel${FUEL_PASS_VERSION}-glue${GLUE_PATCH_VERSION}`;

export class Loader {
  private readonly compiled = new Map<string, Promise<LoadedComponent>>();
  /** `fromStore` loads under way, until `compiled` has them. */
  private readonly fromStoreLoads = new Map<string, Promise<LoadedComponent>>();

  /**
   * @param home the data dir (component bytes live in `home/components`)
   * @param cacheDir where transpiled glue is cached; default `home/cache`. Several data dirs may share one.
   */
  constructor(
    private readonly home: string,
    readonly cacheDir: string = join(home, 'cache'),
    private readonly logger?: Logger,
    private readonly onProgress?: (message: string) => void,
  ) {}

  /**
   * inspectComponent, remembered by digest in the cache dir: parsing a 12 MB component's WIT
   * takes ~30 ms, hashing it ~6 ms. The header checks still run on every call.
   */
  async inspect(bytes: Uint8Array, what: string): Promise<ComponentInfo> {
    readWasmHeader(bytes, what, 'component');
    const digest = sha256(bytes);
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
    const dir = await this.transpiled(info.digest, bytes);
    const meta = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8')) as { modules: string[] };
    const modules: Record<string, WebAssembly.Module> = {};
    for (const name of meta.modules) {
      const module = await WebAssembly.compile(readFileSync(join(dir, name)));
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

  /**
   * The digest of what transpiling reads: the component without its signature and manifest
   * sections, which jco ignores. Re-signing a component, or a new version that changed only its
   * manifest, reuses the metered modules instead of metering 12 MB again. Remembered per digest
   * in `cache/code/`, so a cached load hashes nothing more.
   */
  private codeDigest(digest: string, bytes: Uint8Array): string {
    const link = join(this.cacheDir, 'code', digest);
    if (existsSync(link)) {
      const known = readFileSync(link, 'utf8');
      if (/^[0-9a-f]{64}$/.test(known)) return known;
    }
    const code = sha256(withoutCustomSections(bytes, [SIGNATURE_SECTION, MANIFEST_SECTION], digest));
    mkdirSync(join(this.cacheDir, 'code'), { recursive: true });
    writeFileAtomic(link, code);
    return code;
  }

  /** The cache dir holding the transpiled glue and metered modules for `digest`, creating it if absent. */
  async transpiled(digest: string, bytes: Uint8Array): Promise<string> {
    const dir = join(this.cacheDir, `${this.codeDigest(digest, bytes)}-${BUILD}`);
    if (existsSync(join(dir, 'meta.json'))) return dir;
    // One thread meters every core module; binaryen loads in it while jco transpiles.
    const thread = new FuelThread();
    const tmp = `${dir}.${pid}.${Date.now()}.tmp`;
    const modules: string[] = [];
    try {
      let out: Awaited<ReturnType<typeof transpile>>;
      try {
        out = await transpile(bytes, { ...TRANSPILE_OPTIONS });
      } catch (e) {
        throw malformed(e, `component ${digest} cannot be transpiled`);
      }
      mkdirSync(tmp, { recursive: true });
      for (const [name, content] of Object.entries(out.files)) {
        if (name.endsWith('.wasm')) {
          const what = `component ${digest.slice(0, 12)} ${name}`;
          writeFileSync(join(tmp, name), await this.meter(thread, content, what));
          modules.push(name);
        } else if (name === 'component.js') {
          writeFileSync(join(tmp, 'component.mjs'), patchGlue(Buffer.from(content).toString('utf8')));
        }
      }
    } catch (e) {
      rmSync(tmp, { recursive: true, force: true });
      throw e;
    } finally {
      await thread.close();
    }
    writeFileSync(
      join(tmp, 'meta.json'),
      JSON.stringify({
        digest,
        jco: JCO_VERSION,
        fuelPass: FUEL_PASS_VERSION,
        gluePatch: GLUE_PATCH_VERSION,
        modules,
      }),
    );
    try {
      renameSync(tmp, dir);
    } catch (e) {
      // Another kernel on the same data dir won the race: use its copy.
      rmSync(tmp, { recursive: true, force: true });
      if (!existsSync(join(dir, 'meta.json'))) throw e;
    }
    return dir;
  }

  /** Runs the fuel pass on one core module on `thread`, logging progress on large ones. */
  private async meter(thread: FuelThread, bytes: Uint8Array, what: string): Promise<Uint8Array> {
    const large = bytes.length > 1 << 20;
    const t0 = performance.now();
    if (large) {
      const msg = `metering ${what} (${(bytes.length / (1 << 20)).toFixed(1)} MB) for fuel; once per component, several seconds`;
      this.logger?.info({ module: what }, msg);
      this.onProgress?.(msg);
    }
    const phase = (p: string): void => this.onProgress?.(`  ${p} (${Math.round(performance.now() - t0)} ms)`);
    const r = await thread.meter(bytes, what, large ? phase : undefined);
    if (large) {
      const ms = Math.round(performance.now() - t0);
      this.logger?.info({ module: what, ms, ...r.stats.ms }, `metered ${what} in ${ms} ms`);
      this.onProgress?.(`metered ${what} in ${ms} ms`);
    }
    return r.bytes;
  }
}
