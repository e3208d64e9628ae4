/**
 * The capabilities AgentOS ships: pass them to the kernel, with your own beside them.
 * `Kernel` from the package (`agentos`) uses this list when `capabilities` is not given.
 *
 * @example
 * import { defaultCapabilities, Kernel } from 'agentos';
 * const kernel = await Kernel.open({ capabilities: [...defaultCapabilities, tally] });
 */
import type { Capability } from '../kernel/sdk/index.js';
import { clock } from './clock/index.js';
import { events } from './events/index.js';
import { ipc } from './ipc/index.js';
import { log } from './log/index.js';
import { random } from './random/index.js';
import { workingMemory } from './working-memory/index.js';

export const defaultCapabilities: readonly Capability[] = [log, clock, random, workingMemory, ipc, events];
