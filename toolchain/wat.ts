/**
 * Components from hand-written WebAssembly text: the core module is parsed, the world's WIT is
 * embedded, and `wasm-tools component new` (through jco) wraps it. Small, fast components for
 * tests, conformance cases and benchmarks that should not carry a JS engine.
 *
 * @example
 * const bytes = await buildWatComponent(wat, { world: 'agent', imports: ['log'] });
 */
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { componentEmbed, componentNew, parse } from '@bytecodealliance/jco';
import { ABI_VERSION, importName, PACKAGE } from '../kernel/abi.js';
import { AgentOSError } from '../kernel/errors.js';
import { witDir } from '../kernel/paths.js';

export interface WatOptions {
  world: 'agent' | 'skill';
  /** Kernel interfaces the component imports (`log`, `working-memory`, ...). */
  imports?: string[];
  /** Extra WIT lines for the world (e.g. an import from another package), and extra packages. */
  extraWorldLines?: string[];
  extraPackages?: Record<string, string>;
}

export async function buildWatComponent(wat: string, options: WatOptions): Promise<Uint8Array> {
  const work = mkdtempSync(join(tmpdir(), 'agentos-wat-'));
  try {
    mkdirSync(join(work, 'wit', 'deps'), { recursive: true });
    cpSync(witDir(), join(work, 'wit', 'deps', 'kernel'), { recursive: true });
    for (const [name, source] of Object.entries(options.extraPackages ?? {})) {
      mkdirSync(join(work, 'wit', 'deps', name), { recursive: true });
      writeFileSync(join(work, 'wit', 'deps', name, `${name}.wit`), source);
    }
    const world = [
      'package agentos:wat;',
      'world component {',
      `  include ${PACKAGE}/${options.world}@${ABI_VERSION};`,
      ...(options.imports ?? []).map((i) => `  import ${importName(i)};`),
      ...(options.extraWorldLines ?? []).map((l) => `  ${l}`),
      '}',
    ].join('\n');
    writeFileSync(join(work, 'wit', 'world.wit'), world);
    const core = await parse(wat);
    const embedded = await componentEmbed({ binary: core, witPath: join(work, 'wit'), world: 'component' });
    return await componentNew(embedded);
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
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
