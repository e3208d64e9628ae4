/**
 * Components from hand-written WebAssembly text: the core module is parsed, the world's WIT is
 * embedded, and `wasm-tools component new` (through jco) wraps it. Small, fast components for
 * tests, conformance cases and benchmarks that should not carry a JS engine.
 *
 * @example
 * const bytes = await buildWatComponent(wat, { world: 'agent', imports: ['log'] });
 * // A component whose handle does not fit the agent world, for the loader's checks:
 * await buildWatComponent(wat, { world: 'agent', worldLines: ['export handle: func(x: u32) -> u32;'] });
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { componentEmbed, componentNew, parse } from '@bytecodealliance/jco';
import { ABI_VERSION, importName, PACKAGE } from '../kernel/base/abi.js';
import { AgentOSError } from '../kernel/base/errors.js';
import { type Manifest, withManifest } from '../kernel/signing/manifest.js';
import { withWitWorkspace } from './wit-workspace.js';

export interface WatOptions {
  world: 'agent' | 'skill';
  /** Kernel interfaces the component imports (`log`, `working-memory`, ...). */
  imports?: string[];
  /** Extra WIT lines for the world (e.g. an import from another package), and extra packages. */
  extraWorldLines?: string[];
  extraPackages?: Record<string, string>;
  /**
   * The world's items in place of `include agentos:kernel/<world>` (the exports, and any types
   * they use): a component whose exports do not fit its world, or fit it with types of its own.
   */
  worldLines?: string[];
  /**
   * Text replaced in the kernel's WIT files (`[file, from, to]`) before building: a component
   * built against an altered copy of the ABI, which still carries the ABI's names.
   */
  kernelWitEdits?: [string, string, string][];
  /** A manifest to embed (kernel/signing/manifest.ts). */
  manifest?: Manifest;
  /** The core module itself, made by another tool from the same text: used instead of parsing it. */
  core?: Uint8Array;
}

export async function buildWatComponent(wat: string, options: WatOptions): Promise<Uint8Array> {
  const lines = [
    ...(options.worldLines ?? [`include ${PACKAGE}/${options.world}@${ABI_VERSION};`]),
    ...(options.imports ?? []).map((i) => `import ${importName(i)};`),
    ...(options.extraWorldLines ?? []),
  ];
  const workspace = {
    pkg: 'agentos:wat',
    world: 'component',
    lines,
    extraPackages: options.extraPackages ?? {},
  };
  try {
    return await withWitWorkspace(workspace, async (witPath) => {
      for (const [file, from, to] of options.kernelWitEdits ?? []) {
        const path = join(witPath, 'deps', 'kernel', file);
        const text = readFileSync(path, 'utf8');
        if (!text.includes(from))
          throw new AgentOSError('AOS_E_BUILD_FAILED', `${file} has no ${JSON.stringify(from)}`);
        writeFileSync(path, text.replace(from, to));
      }
      const core = options.core ?? (await parse(wat));
      const component = await componentNew(
        await componentEmbed({ binary: core, witPath, world: 'component' }),
      );
      return options.manifest ? withManifest(component, options.manifest, 'the WAT component') : component;
    });
  } catch (e) {
    if (e instanceof AgentOSError) throw e;
    throw new AgentOSError(
      'AOS_E_BUILD_FAILED',
      `building the WAT component failed: ${(e as Error)?.message ?? e}`,
      {},
      {
        cause: e,
      },
    );
  }
}
