/**
 * The capabilities this kernel provides: one line each. Adding a capability touches its own
 * folder and this list, nothing else.
 */
import type { Capability } from '../kernel/capability.js';
import { clock } from './clock/index.js';
import { events } from './events/index.js';
import { ipc } from './ipc/index.js';
import { log } from './log/index.js';
import { random } from './random/index.js';
import { workingMemory } from './working-memory/index.js';

export const CAPABILITIES: readonly Capability[] = [log, clock, random, workingMemory, ipc, events];
