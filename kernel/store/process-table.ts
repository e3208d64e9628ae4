/**
 * The process table: one record per agent, persisted in LMDB, so agents, their states and
 * their accounting survive a kernel restart.
 *
 * @example
 * const table = new ProcessTable(store);
 * table.put(record);
 * table.get('echo-1a2b3c')?.state; // 'ready'
 */
import type { Database } from 'lmdb';
import type { Limits, Priority } from '../base/limits.js';
import type { Store } from './store.js';

/**
 * - `ready`: takes messages (an instance is created on demand).
 * - `suspended`: messages queue in the mailbox until `resume`.
 * - `crashed`: the last instance trapped; the next message restarts it unless the policy is `never`.
 * - `terminated`: final; no more messages.
 */
export type AgentState = 'ready' | 'suspended' | 'crashed' | 'terminated';

export type World = 'agent' | 'skill';

export type RestartPolicy = 'on-message' | 'never';

/** Per-agent accounting. */
export interface AgentStats {
  invocations: number;
  errors: number;
  crashes: number;
  hostcalls: Record<string, number>;
  /** Time spent inside handle/invoke, in microseconds. */
  busyUs: number;
  /** Fuel used over the agent's life (instance starts included). */
  fuel: number;
  /** Largest linear memory seen after a call, in bytes. */
  peakMemory: number;
  /** Invocations ended by a limit, by error code (AOS_E_FUEL_EXHAUSTED, ...). */
  limits: Record<string, number>;
  /** Times a call of this agent was preempted (parked), and the time it spent parked, in µs. */
  parks: number;
  parkedUs: number;
  /** Time its calls spent blocked in hostcalls (e.g. clock.sleep), without a CPU permit, in µs. */
  blockedUs: number;
}

/** Who vouches for an agent's component, what it requested and what its spawner granted. */
export interface AgentProvenance {
  signed: boolean;
  /** The publisher whose trusted key signed it, and that key's id. */
  publisher?: string;
  keyId?: string;
  /** From its manifest: its name, version and requested capabilities. */
  name?: string;
  version?: string;
  requested?: string[];
  /** The grants the spawner gave; `grants` holds what the agent runs with (the intersection). */
  granted: string[];
}

export interface AgentRecord {
  id: string;
  name: string;
  world: World;
  /** sha256 of the component bytes (hex). */
  digest: string;
  /** The component's imports, as the loader read them at spawn. */
  imports: string[];
  grants: string[];
  /** JSON text passed to init. */
  config: string;
  state: AgentState;
  restart: RestartPolicy;
  /** Seed of the agent's random generator (decimal u64). */
  seed: string;
  createdAt: number;
  updatedAt: number;
  /** Instances started so far (1 after the first message). */
  generation: number;
  lastError: { code: string; message: string; at: number } | null;
  stats: AgentStats;
  /** Per-capability persisted state (e.g. the random generator's position). */
  capState: Record<string, unknown>;
  /** Absent on agents spawned before components were checked for signatures. */
  provenance?: AgentProvenance;
  limits: Limits;
  priority: Priority;
  /** Share of CPU against agents of the same priority (fuel is charged divided by it). */
  weight: number;
  /** Set when it was exported (it is then terminated here): when (ms since the epoch), and the bundle's sha256. */
  exported?: { at: number; bundle: string };
}

export function emptyStats(): AgentStats {
  return {
    invocations: 0,
    errors: 0,
    crashes: 0,
    hostcalls: {},
    busyUs: 0,
    fuel: 0,
    peakMemory: 0,
    limits: {},
    parks: 0,
    parkedUs: 0,
    blockedUs: 0,
  };
}

/** The table, loaded once at open and kept in memory; every change is written through to LMDB. */
export class ProcessTable {
  private readonly db: Database<AgentRecord, string>;
  private readonly rows = new Map<string, AgentRecord>();

  constructor(private readonly store: Store) {
    this.db = store.db('agents') as unknown as Database<AgentRecord, string>;
    for (const { key, value } of this.db.getRange({})) this.rows.set(key, value);
  }

  get(id: string): AgentRecord | undefined {
    return this.rows.get(id);
  }

  /**
   * Stores the record: it joins the kernel's write batch (so it commits in order with the
   * journal records and the unit of the call that changed it); reads see it at once.
   */
  /** Drops the record (an import undone; terminated agents keep theirs). */
  remove(id: string): void {
    this.rows.delete(id);
    this.store.batch.remove(this.db, id);
  }

  put(record: AgentRecord): void {
    this.rows.set(record.id, record);
    this.store.batch.put(this.db, record.id, record);
  }

  /** Every record, in creation order. */
  all(): AgentRecord[] {
    return [...this.rows.values()].sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1));
  }
}
