/**
 * A temporary WIT workspace for one toolchain step: the kernel's package under `deps/kernel`,
 * any extra packages beside it, and a root package holding one world. Removed afterwards.
 *
 * @example
 * await withWitWorkspace({ pkg: 'agentos:build', world: 'component', lines: ['include agentos:kernel/agent@0.1.0;'] },
 *   (witPath, dir) => componentize({ sourcePath: `${dir}/component.js`, witPath, worldName: 'component' }));
 */
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { witDir } from '../kernel/base/paths.js';

export interface WitWorld {
  /** The root package, e.g. `agentos:build`. */
  pkg: string;
  /** The world's name. */
  world: string;
  /** The world's items (`include ...;`, `import ...;`). */
  lines: string[];
  /** Other packages by folder name → WIT source. */
  extraPackages?: Record<string, string>;
}

/** Runs `f` with the path of the workspace's `wit/` folder and the workspace itself. */
export async function withWitWorkspace<T>(
  w: WitWorld,
  f: (witPath: string, dir: string) => Promise<T>,
): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'agentos-wit-'));
  try {
    const wit = join(dir, 'wit');
    mkdirSync(join(wit, 'deps'), { recursive: true });
    cpSync(witDir(), join(wit, 'deps', 'kernel'), { recursive: true });
    for (const [name, source] of Object.entries(w.extraPackages ?? {})) {
      mkdirSync(join(wit, 'deps', name), { recursive: true });
      writeFileSync(join(wit, 'deps', name, `${name}.wit`), source);
    }
    const world = [`package ${w.pkg};`, '', `world ${w.world} {`, ...w.lines.map((l) => `  ${l}`), '}', ''];
    writeFileSync(join(wit, 'world.wit'), world.join('\n'));
    return await f(wit, dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
