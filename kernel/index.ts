/**
 * AgentOS: embed the kernel.
 *
 * @example
 * import { Kernel } from 'agentos';
 * const kernel = await Kernel.open({ home: './.agentos' });
 * const id = await kernel.spawn('/tmp/echo.wasm', { grants: ['log', 'working-memory'] });
 * console.log(await kernel.send(id, { text: 'hi' }));
 * await kernel.close();
 */
export { ABI_VERSION, PACKAGE, WIT_INTERFACES } from './abi.js';
export type { Capability, KernelServices } from './capability.js';
export { type Clock, ManualClock, systemClock } from './clock.js';
export { AgentOSError, ERROR_CODES, type ErrorCode, GuestError, type GuestErrorTag } from './errors.js';
export {
  type AgentInfo,
  Kernel,
  type KernelOptions,
  type SendOptions,
  type SpawnOptions,
  type ToolDescriptor,
} from './kernel.js';
export { type ComponentInfo, inspectComponent } from './loader.js';
export type { JournalRecord, ReadableEntry, StoredMessage } from './store/journal.js';
export type { AgentRecord, AgentState, AgentStats, RestartPolicy, World } from './store/process-table.js';
