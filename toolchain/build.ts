/**
 * `agentos build`: TypeScript/JavaScript → a component of the agent or skill world.
 *
 * 1. esbuild bundles the source into one ES module; `agentos:kernel/<iface>` imports stay
 *    external (the unversioned form is accepted and pinned to the kernel's ABI version);
 * 2. each export of the world is wrapped (toolchain/export-wrapper.ts) so an exception that
 *    escapes it comes back as a crash report instead of a trap that loses its message;
 * 3. the world is written for this component: the chosen world's exports plus an import for
 *    exactly the interfaces the source uses, so the component asks for nothing else;
 * 4. the chosen engine (engines.ts: QuickJS by default, or SpiderMonkey) builds the component,
 *    with no WASI imports;
 * 5. the manifest (toolchain/manifest-file.ts: agentos.json beside the source) is embedded as
 *    the `agentos-manifest` section, once its world matches and it requests every capability
 *    the source imports. Sign the result with `agentos sign`.
 *
 * @example
 * const r = await buildComponent('components/echo/index.ts', { out: '/tmp/echo.wasm' });
 * r.imports; // ['agentos:kernel/log@0.1.0']
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { build, type Message, type Plugin } from 'esbuild';
import { ABI_VERSION, importName, PACKAGE, WIT_INTERFACES } from '../kernel/base/abi.js';
import { AgentOSError, refusal } from '../kernel/base/errors.js';
import { sha256 } from '../kernel/loader/loader.js';
import { importsNotRequested } from '../kernel/signing/grants.js';
import { type Manifest, withManifest } from '../kernel/signing/manifest.js';
import { type BuildWorld, componentizeWith, DEFAULT_ENGINE, type Engine, EXPORTS } from './engines.js';
import { wrapExports } from './export-wrapper.js';
import { findManifest } from './manifest-file.js';

export type { BuildWorld, Engine } from './engines.js';

export interface BuildOptions {
  /** Default: the manifest's; given, it must be the manifest's. */
  world?: BuildWorld;
  /** Output path of the .wasm. */
  out: string;
  /** The manifest, or its path; default: agentos.json (or package.json's `agentos`) beside the source. */
  manifest?: Manifest | string;
  /** The JS engine inside the component (engines.ts); default DEFAULT_ENGINE. */
  engine?: Engine;
}

export interface BuildResult {
  out: string;
  size: number;
  digest: string;
  imports: string[];
  /** Where the manifest came from. */
  manifest: string;
  engine: Engine;
  ms: number;
}

const KNOWN = new Set<string>(WIT_INTERFACES);

/** Keeps `agentos:kernel/*` imports external, pinned to the ABI version; refuses unknown ones. */
function kernelImports(): Plugin {
  return {
    name: 'agentos-kernel-imports',
    setup(b) {
      b.onResolve({ filter: /^agentos:/ }, (args) => {
        const m = /^agentos:kernel\/([a-z-]+)(?:@(.+))?$/.exec(args.path);
        if (!m || !KNOWN.has(m[1]!) || m[1] === 'types') {
          return { errors: [{ text: `"${args.path}" is not an interface of ${PACKAGE}@${ABI_VERSION}` }] };
        }
        if (m[2] !== undefined && m[2] !== ABI_VERSION) {
          return {
            errors: [{ text: `"${args.path}": this toolchain builds against ${PACKAGE}@${ABI_VERSION}` }],
          };
        }
        return { path: importName(m[1]!), external: true };
      });
    },
  };
}

const firstError = (errors: Message[]): string => {
  const e = errors[0];
  if (!e) return 'unknown error';
  return e.location ? `${e.location.file}:${e.location.line}:${e.location.column}: ${e.text}` : e.text;
};

/** Bundles, writes the component's world and componentizes. */
export async function buildComponent(entry: string, options: BuildOptions): Promise<BuildResult> {
  const t0 = performance.now();
  const source = resolve(entry);
  if (!existsSync(source)) throw new AgentOSError('AOS_E_BAD_ARGUMENT', `no source file ${entry}`);
  const found = findManifest(entry, options.manifest);
  const world = options.world ?? found.manifest.world;
  if (world !== 'agent' && world !== 'skill') {
    throw new AgentOSError('AOS_E_BAD_ARGUMENT', `--world must be agent or skill, got ${String(world)}`);
  }
  if (world !== found.manifest.world) {
    throw new AgentOSError(
      'AOS_E_BAD_MANIFEST',
      `${found.from} says world ${found.manifest.world}, but the build asks for ${world}`,
    );
  }
  let bundle: Awaited<ReturnType<typeof build>>;
  try {
    bundle = await build({
      entryPoints: [source],
      bundle: true,
      format: 'esm',
      platform: 'neutral',
      target: 'es2022',
      write: false,
      metafile: true,
      outfile: 'component.js',
      logLevel: 'silent',
      plugins: [kernelImports()],
    });
  } catch (e) {
    const errors = (e as { errors?: Message[] }).errors ?? [];
    throw new AgentOSError(
      'AOS_E_BUILD_FAILED',
      `bundling ${entry} failed: ${firstError(errors)}`,
      {},
      { cause: e },
    );
  }
  const output = Object.values(bundle.metafile!.outputs)[0]!;
  const missing = EXPORTS[world].filter((name) => !output.exports.includes(name));
  if (missing.length > 0) {
    throw new AgentOSError(
      'AOS_E_BAD_SOURCE',
      `${entry} does not export ${missing.join(' and ')}; the ${world} world needs ${EXPORTS[world].join(' and ')}`,
      { missing },
    );
  }
  const imports = [...new Set(output.imports.filter((i) => i.external).map((i) => i.path))].sort();
  const unrequested = importsNotRequested(imports, found.manifest, `${entry} (manifest ${found.from})`);
  if (unrequested.length > 0) throw refusal(entry, unrequested);
  const engine = options.engine ?? DEFAULT_ENGINE;
  const code = await wrapExports(bundle.outputFiles![0]!.text, EXPORTS[world], engine);
  const component = await componentizeWith(engine, { code, world, imports, entry });
  const out = resolve(options.out);
  const bytes = withManifest(component, found.manifest, entry);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, bytes);
  return {
    out,
    size: bytes.length,
    digest: sha256(bytes),
    imports,
    manifest: found.from,
    engine,
    ms: Math.round(performance.now() - t0),
  };
}
