/**
 * The kernel alone, with no capability of its own: every capability comes in through
 * `KernelOptions.capabilities`. The package's entry (`agentos`, index.ts at its root) adds the
 * shipped ones by default.
 *
 * @example
 * import { Kernel } from './kernel/index.js';
 * const kernel = await Kernel.open({ home: './.agentos', capabilities: [log] });
 */
export { ABI_VERSION, PACKAGE, WIT_INTERFACES } from './base/abi.js';
export { type AddressSpace, addressSpace } from './base/address-space.js';
export { type Clock, ManualClock, systemClock } from './base/clock.js';
export { AgentOSError, ERROR_CODES, type ErrorCode, GuestError, type GuestErrorTag } from './base/errors.js';
export type { CatalogEntry } from './catalog/catalog.js';
export type { InstallOptions } from './catalog/install.js';
export type { Installed, KernelCatalog } from './catalog/kernel-catalog.js';
export type { Published } from './catalog/publish.js';
export type { Imported } from './import-agent.js';
export {
  type AgentInfo,
  type CheckpointInfo,
  Kernel,
  type KernelOptions,
  type SendOptions,
  type SpawnOptions,
  type ToolDescriptor,
} from './kernel.js';
export { type ComponentInfo, inspectComponent } from './loader/loader.js';
export type { BundleReplayOptions, BundleReport } from './recording.js';
export type { Divergence } from './replay/cursor.js';
export type { ReplayOptions, ReplayReport } from './replay.js';
export type { Capability } from './sdk/capability.js';
export type { Manifest, ToolDescriptor as ManifestTool } from './signing/manifest.js';
export type { PolicyOptions, Provenance, TrustAnchor } from './signing/policy.js';
export type { JournalRecord, ReadableEntry } from './store/journal.js';
export type { StoredMessage } from './store/message.js';
export type {
  AgentProvenance,
  AgentRecord,
  AgentState,
  AgentStats,
  RestartPolicy,
  World,
} from './store/process-table.js';
export type { Upgraded, UpgradeOptions } from './upgrade.js';
