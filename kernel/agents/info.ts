/** What the embedding API says of an agent, and what it may change on a live one. */
import type { LimitsInput, Priority } from '../base/limits.js';
import type { AgentRecord } from '../store/process-table.js';

/** What `configure` may change on a live agent. */
export interface AgentSettings {
  limits?: LimitsInput;
  priority?: Priority;
  weight?: number;
}

/** A kept checkpoint: the journal entry its state includes, when it was taken (kernel clock ms), its size. */
export interface CheckpointInfo {
  seq: number;
  at: number;
  bytes: number;
}

export interface AgentInfo extends Omit<AgentRecord, 'capState' | 'config'> {
  config: unknown;
  /** Messages waiting in the mailbox (including one in flight). */
  mailbox: number;
  /** An instance is live in a worker. */
  resident: boolean;
  /** Its instance was dropped with its state kept: its next message starts one from it. */
  dormant: boolean;
  busy: boolean;
  /**
   * The call in flight, if any: the fuel it has used as of its last preemption (0 before the
   * first), whether it is parked (waiting for a CPU permit) or blocked in a hostcall.
   */
  running: { fuel: number; parked: boolean; blocked: boolean } | null;
  /**
   * Its kept checkpoints, oldest first (kernel/store/checkpoints.ts): the journal entry each
   * state includes, when it was taken (kernel clock ms) and its size.
   */
  checkpoints: CheckpointInfo[];
  /**
   * Bytes it takes in the data dir (`inspect(id, { disk: true })` only): its journal's stored
   * entries (as of the last write) and its kept checkpoints. Bounded under `retention: 'checkpoints'`.
   */
  disk?: { journal: number; checkpoints: number };
  /** Fuel used in the current one-second window (kernel clock ms), for `limits.fuel.perSecond`. */
  fuelWindow: { start: number; fuel: number };
}
