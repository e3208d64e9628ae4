/**
 * The toolchain for component authors, as a library (`agentos/toolchain`): what the `agentos`
 * CLI's build, inspect and meter commands do.
 *
 * @example
 * import { buildComponent, inspectComponent, instrumentFuel } from 'agentos/toolchain';
 * const { out, imports } = await buildComponent('agent.ts', { world: 'agent', out: 'agent.wasm' });
 * const info = await inspectComponent(await readFile(out), out); // world, imports, exports
 * const { bytes, stats } = instrumentFuel(coreModuleBytes);      // the fuel pass on one core module
 */

export type { FuelPhase, FuelResult, FuelStats } from '../kernel/fuel/pass.js';
export { FUEL, FUEL_PASS_VERSION, instrumentFuel } from '../kernel/fuel/pass.js';
export { instrumentInThread } from '../kernel/fuel/thread.js';
export { inspectComponent, readComponent } from '../kernel/loader/loader.js';
export type { BuildOptions, BuildResult, BuildWorld } from './build.js';
export { buildComponent } from './build.js';
export type { WatOptions } from './wat.js';
export { buildWatComponent } from './wat.js';
