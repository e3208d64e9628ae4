/**
 * The JS engines `agentos build` can put inside a component, each turning one bundled ES module
 * (its exports already wrapped: export-wrapper.ts) into a component of the world written for it.
 *
 * - `quickjs` (componentize-qjs): ~1.6 MB per component, ~0.6 MiB resident per instance, about
 *   an eighth of SpiderMonkey's fuel per call. Built with its synchronous runtime (the async one
 *   needs JSPI, which Node 20 lacks) and every WASI import stubbed (the kernel's interfaces are
 *   the only imports). Its runtime exports its own `init` (Wizer's entry point), which clashes
 *   with the agent world's `init`: the agent's init is built under an internal name
 *   (QUICKJS_INIT), then the component's top-level exports are rewritten — the runtime's `init`
 *   dropped, the agent's renamed back (component-exports.ts) — and checked to be exactly the
 *   world's. Its core module uses extended-const, which the kernel enables on Node 20
 *   (kernel/base/wasm-features.ts).
 * - `spidermonkey` (componentize-js / StarlingMonkey): ~12 MB, a full engine with async exports.
 *
 * @example
 * const bytes = await componentizeWith('quickjs', { code, world: 'agent', imports, entry });
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { componentize as componentizeJs } from '@bytecodealliance/componentize-js';
import { componentize as componentizeQjs } from 'componentize-qjs';
import { ABI_VERSION, PACKAGE } from '../kernel/base/abi.js';
import { AgentOSError } from '../kernel/base/errors.js';
import { exportNames, rewriteExports } from './component-exports.js';
import { type Engine, QUICKJS_INIT } from './export-wrapper.js';
import { withWitWorkspace } from './wit-workspace.js';

export type { Engine } from './export-wrapper.js';

export const ENGINES: readonly Engine[] = ['quickjs', 'spidermonkey'];

/** What `agentos build` uses when no engine is named (docs/components.md says why). */
export const DEFAULT_ENGINE: Engine = 'quickjs';

export type BuildWorld = 'agent' | 'skill';

export const EXPORTS: Record<BuildWorld, readonly string[]> = {
  agent: ['init', 'handle'],
  skill: ['describe', 'invoke'],
};

/** Every WASI feature componentize-js knows, all off: the kernel's interfaces are the only imports. */
const DISABLED_FEATURES = ['stdio', 'random', 'clocks', 'http', 'fetch-event'] as const;

export interface EngineInput {
  /** The bundled, wrapped ES module. */
  code: string;
  world: BuildWorld;
  /** The `agentos:kernel/*@version` interfaces the code imports. */
  imports: readonly string[];
  /** How errors name the source. */
  entry: string;
}

/** @throws AgentOSError AOS_E_BAD_ARGUMENT for an unknown engine, AOS_E_BUILD_FAILED */
export async function componentizeWith(engine: Engine, input: EngineInput): Promise<Uint8Array> {
  if (!ENGINES.includes(engine))
    throw new AgentOSError(
      'AOS_E_BAD_ARGUMENT',
      `--engine must be one of ${ENGINES.join(', ')}, got ${String(engine)}`,
    );
  const qjs = engine === 'quickjs';
  const include =
    qjs && input.world === 'agent'
      ? `include ${PACKAGE}/agent@${ABI_VERSION} with { init as ${QUICKJS_INIT} }`
      : `include ${PACKAGE}/${input.world}@${ABI_VERSION};`;
  const lines = [include, ...input.imports.map((i) => `import ${i};`)];
  return withWitWorkspace({ pkg: 'agentos:build', world: 'component', lines }, async (witPath, dir) => {
    try {
      if (!qjs) {
        writeFileSync(join(dir, 'component.js'), input.code);
        const { component } = await componentizeJs({
          sourcePath: join(dir, 'component.js'),
          witPath,
          worldName: 'component',
          disableFeatures: [...DISABLED_FEATURES],
        });
        return component;
      }
      const { component } = await componentizeQjs({
        witPath,
        jsSource: input.code,
        world: 'component',
        sync: true,
        stubWasi: true,
      });
      return quickjsExports(new Uint8Array(component), input);
    } catch (e) {
      if (e instanceof AgentOSError) throw e;
      const reason = String((e as Error)?.message ?? e)
        .split('\n')
        .slice(0, 4)
        .join(' ');
      throw new AgentOSError(
        'AOS_E_BUILD_FAILED',
        `componentizing ${input.entry} with ${engine} failed: ${reason}`,
        {},
        { cause: e },
      );
    }
  });
}

/** The runtime's own `init` dropped and the agent's given its name back; exactly the world's exports. */
function quickjsExports(component: Uint8Array, input: EngineInput): Uint8Array {
  const rename: Record<string, string> = input.world === 'agent' ? { [QUICKJS_INIT]: 'init' } : {};
  const out = rewriteExports(component, { drop: ['init'], rename });
  const names = exportNames(out);
  const want = EXPORTS[input.world];
  if (names.length !== want.length || !want.every((n) => names.includes(n)))
    throw new AgentOSError(
      'AOS_E_BUILD_FAILED',
      `componentizing ${input.entry} with quickjs left the exports ${names.join(', ')}, not the ${input.world} world's ${want.join(', ')}`,
      { exports: names },
    );
  return out;
}
