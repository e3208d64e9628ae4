/**
 * The capabilities this kernel provides: one line each. Adding a capability takes its folder,
 * this line, its WIT file in wit/ and its name in kernel/abi.ts, and for functions the worker
 * answers itself a line in worker-side.ts; a capability that needs more of the kernel than
 * KernelServices offers also widens that (the capability contract is yet to be narrowed).
 */
import type { Capability } from '../kernel/capability.js';
import { clock } from './clock/index.js';
import { events } from './events/index.js';
import { ipc } from './ipc/index.js';
import { log } from './log/index.js';
import { random } from './random/index.js';
import { workingMemory } from './working-memory/index.js';

export const CAPABILITIES: readonly Capability[] = [log, clock, random, workingMemory, ipc, events];
