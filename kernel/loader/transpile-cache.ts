/**
 * The transpile cache: a component's jco glue and its metered core modules, made once per code
 * digest (the component without its signature and manifest) and kept in
 * `cache/<sha256>-jco<version>-fuel<pass version>-glue<patch version>/`. Small core modules are
 * metered in-process, large ones on one fuel-pass thread (kernel/fuel/thread.ts), so the event
 * loop is never blocked for long; a failed metering leaves no half-written entry.
 *
 * @example
 * const dir = await new TranspileCache(cacheDir).transpiled(digest, bytes); // dir/component.mjs
 */
import { Buffer } from 'node:buffer';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pid } from 'node:process';
import { transpile } from '@bytecodealliance/jco';
import type { Logger } from 'pino';
import { writeFileAtomic } from '../base/atomic-write.js';
import { AgentOSError } from '../base/errors.js';
import { FUEL_PASS_VERSION } from '../fuel/names.js';
import { instrumentFuel } from '../fuel/pass.js';
import { FuelThread } from '../fuel/thread.js';
import { SIGNATURE_SECTION } from '../signing/format.js';
import { MANIFEST_SECTION } from '../signing/manifest.js';
import { withoutCustomSections } from '../signing/sections.js';
import { sha256 } from './digest.js';
import { GLUE_PATCH_VERSION, patchGlue } from './glue-patch.js';

/** Pinned in package.json; part of the cache key so a different jco never reuses old glue. */
export const JCO_VERSION = '1.35.0';

/**
 * The jco options every transpile uses: the loader's, and the benchmarks' bare baselines, so both
 * measure the same glue. jco writes its defaults into the object it is given, so pass a copy
 * (`{ ...TRANSPILE_OPTIONS }`); the constant is frozen so that passing it itself fails loudly.
 */
/** Core modules smaller than this are metered in-process: under ~10 ms, less than a thread's start. */
const IN_PROCESS_BYTES = 512 << 10;

export const TRANSPILE_OPTIONS: Readonly<NonNullable<Parameters<typeof transpile>[1]>> = Object.freeze({
  name: 'component',
  instantiation: 'sync',
  noTypescript: true,
  quiet: true,
});

/**
 * What a component's metered core modules depend on besides its bytes: a snapshot of an instance
 * fits only an instance of modules built the same way.
 */
export const BUILD = `jco${JCO_VERSION}-fuel${FUEL_PASS_VERSION}-glue${GLUE_PATCH_VERSION}`;

/** An AOS_E_MALFORMED_COMPONENT for a failure of jco's parser, with its first line as the reason. */
export function malformed(e: unknown, sentence: string): AgentOSError {
  const reason = String((e as Error)?.message ?? e).split('\n')[0];
  return new AgentOSError('AOS_E_MALFORMED_COMPONENT', `${sentence}: ${reason}`, {}, { cause: e });
}

export class TranspileCache {
  constructor(
    readonly cacheDir: string,
    private readonly logger?: Logger,
    private readonly onProgress?: (message: string) => void,
  ) {}

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
    // One thread meters every large core module, started with the first.
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

  /**
   * Runs the fuel pass on one core module: in-process when it is small (a few milliseconds at
   * most), else on `thread`, logging progress on large ones.
   */
  private async meter(thread: FuelThread, bytes: Uint8Array, what: string): Promise<Uint8Array> {
    if (bytes.length < IN_PROCESS_BYTES) return instrumentFuel(bytes, what).bytes;
    const large = bytes.length > 1 << 20;
    const t0 = performance.now();
    if (large) {
      const msg = `metering ${what} (${(bytes.length / (1 << 20)).toFixed(1)} MB) for fuel, once per component`;
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
