/**
 * Builds the first-party components in components/ to components/dist/<name>.wasm (run by the
 * install) on the default engine (toolchain/engines.ts), each with its manifest (components/<name>/agentos.json) and signed with the
 * development key (toolchain/dev-key.ts). A component whose source, manifest and key are
 * unchanged since its last build is not rebuilt.
 */

import { Buffer } from 'node:buffer';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { argv } from 'node:process';
import { packageRoot } from '../kernel/base/paths.js';
import { sha256 } from '../kernel/loader/loader.js';
import { signComponent } from '../kernel/signing/signature.js';
import { type BuildWorld, buildComponent } from './build.js';
import { devKey } from './dev-key.js';
import { DEFAULT_ENGINE } from './engines.js';

export const SAMPLES: { name: string; world: BuildWorld }[] = [
  { name: 'echo', world: 'agent' },
  { name: 'counter', world: 'agent' },
  { name: 'text-stats', world: 'skill' },
];

/** What builds a sample (beside this file, compiled or not): a change to any rebuilds them. */
const EXT = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
const BUILD_FILES = ['build', 'engines', 'export-wrapper', 'component-exports'].map((f) => `./${f}${EXT}`);

/** Path of a built sample. */
export function samplePath(name: string): string {
  return join(packageRoot(), 'components', 'dist', `${name}.wasm`);
}

export async function buildSamples(log: (line: string) => void = () => {}): Promise<void> {
  const root = packageRoot();
  const witHash = readFileSync(join(root, 'wit', 'worlds.wit'));
  for (const { name, world } of SAMPLES) {
    const src = join(root, 'components', name, 'index.ts');
    const manifest = join(root, 'components', name, 'agentos.json');
    const out = samplePath(name);
    const stamp = `${out}.src-sha256`;
    const key = devKey();
    const hash = sha256(
      Buffer.concat([
        ...BUILD_FILES.map((f) => readFileSync(new URL(f, import.meta.url))),
        readFileSync(src),
        readFileSync(manifest),
        witHash,
        Buffer.from(`${world}\0${key.publicKey.id}\0${DEFAULT_ENGINE}`),
      ]),
    );
    if (existsSync(out) && existsSync(stamp) && readFileSync(stamp, 'utf8') === hash) continue;
    const r = await buildComponent(src, { world, out, engine: DEFAULT_ENGINE });
    writeFileSync(out, signComponent(readFileSync(out), key, out));
    writeFileSync(stamp, hash);
    log(`built components/dist/${name}.wasm (${r.engine}, ${(r.size / 1048576).toFixed(1)} MB, ${r.ms} ms)`);
  }
}

if (import.meta.url === `file://${argv[1]}`) {
  await buildSamples((l) => console.log(l));
}
