/**
 * The capability SDK (`agentos/sdk`): the only part of the kernel a capability imports. It holds
 * the contract (capability.ts), the services a capability may ask for (services.ts), and the
 * pieces several capabilities share: grant-scope parsers, an agent-namespaced store with the
 * transaction rules, event-kind matching and the message-kind rule.
 *
 * @example
 * import { defineCapability, GuestError, rejectScope } from 'agentos/sdk';
 * export const dice = defineCapability({
 *   name: 'dice',
 *   package: 'acme:dice',
 *   version: '0.1.0',
 *   configure: (agent, grant) => (rejectScope(grant, agent.id), {}),
 *   functions: {
 *     roll: (_ctx, sides: number) => {
 *       if (sides < 1) throw new GuestError('invalid', 'a die has at least one side');
 *       return 1 + Math.floor(Math.random() * sides);
 *     },
 *   },
 * });
 */
export { ABI_VERSION, PACKAGE } from '../base/abi.js';
export { AgentOSError, type ErrorCode, GuestError, type GuestErrorTag } from '../base/errors.js';
export { agentKind, MAX_KIND } from '../base/validate.js';
export { type KernelEvent, matches } from '../store/events.js';
export type { StoredMessage } from '../store/message.js';
export { AgentStore, compareUtf8 } from './agent-store.js';
export {
  type AgentView,
  type CallContext,
  type Capability,
  defineCapability,
  type Grant,
  type HostFunction,
  type LocalFunction,
  type PostedFunction,
  WithNote,
  type WorkerSide,
} from './capability.js';
export { parsePrefixScope, rejectScope } from './scope.js';
export {
  type Addressee,
  type CallTxn,
  type Envelope,
  type EventView,
  type Mailer,
  SERVICE_NAMES,
  type ServiceName,
  type Services,
  type Storage,
  type Urgency,
} from './services.js';
export { workerModule } from './worker-module.js';
