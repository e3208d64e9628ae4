/** The option and result types of the embedding API. */
import type { Logger } from 'pino';
import type { AgentInfo, AgentSettings, CheckpointInfo } from './agents/info.js';
import type { Clock } from './base/clock.js';
import type { LimitsInput, Priority } from './base/limits.js';
import type { Capability } from './sdk/capability.js';
import type { PolicyOptions } from './signing/policy.js';
import type { RestartPolicy } from './store/process-table.js';

export interface KernelOptions {
  /** Data dir. Default: `$AGENTOS_HOME`, else `./.agentos`. */
  home?: string;
  /**
   * The capabilities agents may be granted, each a WIT interface with its host functions
   * (docs/capabilities.md). `Kernel` from the package (`agentos`) defaults to
   * `defaultCapabilities`; add your own beside them: `[...defaultCapabilities, mine]`.
   */
  capabilities?: readonly Capability[];
  /** Options of the capabilities, by capability name: `{ tally: { max: 10 } }`. */
  config?: Readonly<Record<string, unknown>>;
  /** CPU permits: calls that compute at once. Default: the number of cores. */
  cpus?: number;
  /**
   * Worker threads. Default: cpus + 2, so calls parked by preemption (or blocked) leave
   * workers free for other agents.
   */
  workers?: number;
  /**
   * Most worker threads. When every worker is held by a call blocked in a hostcall (an
   * `ipc.call` waiting on another agent) and work waits for a worker while CPU permits are
   * free, the pool grows by one thread, up to this; so a chain of blocking calls deeper than
   * `workers` does not stall. Extra workers retire after 30 s idle. Default: workers + 16.
   */
  maxWorkers?: number;
  /**
   * Fuel per meter grant: a running call checks in with its meter this often (its deadline, a
   * preemption). Larger costs less and reacts later. Default 1,000,000 (0.05–0.2 ms of JS).
   */
  tickFuel?: number;
  /**
   * A call that runs this long past its `deadlineMs` without reaching a metering point (a tick)
   * has its worker thread terminated: it fails with AOS_E_DEADLINE, the pool starts a new worker,
   * and the agents that were resident there start fresh instances. Default 1000 ms.
   */
  watchdogGraceMs?: number;
  /** Fuel a call runs before it yields to waiting work of its class. Default 5,000,000 (0.25–1 ms of JS). */
  sliceFuel?: number;
  /**
   * At-least-once delivery: a message whose handler crashes (trap, throw, limit) is delivered
   * again after `backoffMs` (doubling each time), `attempts` times in all, then moved to the
   * dead-letter queue. Default 3 attempts, 100 ms.
   */
  delivery?: {
    attempts?: number;
    backoffMs?: number;
    /**
     * Most queued messages of one agent handed to its worker in one command (1: one at a
     * time). Each is still its own call: own budget, own outcome, own ack. Default 32.
     */
    batch?: number;
  };
  /**
   * Where mailboxes live. Default `durable` (LMDB: queued messages survive a crash or restart);
   * `memory` keeps them in memory only, for throughput where losing queued messages is fine.
   */
  mailboxes?: 'durable' | 'memory';
  /**
   * When `send`, `invoke` and `describe` resolve. `strict` (default): once the handler's outcome,
   * the message's ack and every effect of that invocation (working-memory writes, the messages
   * it sent, its journal records) are committed together and on disk, so after a crash either
   * all of the invocation is there or none of it is, and a redelivered message never meets
   * effects of an earlier attempt. `relaxed`: as soon as the handler returns (the invocation is
   * still committed as one unit, a few ms later); a crash in between loses it, and the message is
   * delivered again after the restart although its caller was answered.
   */
  durability?: 'strict' | 'relaxed';
  /** A pino logger, or the level for the kernel's own (stderr). Default level: `warn`. */
  logger?: Logger;
  logLevel?: string;
  /** The time source for clock hostcalls and timestamps. Default: the system clock. */
  clock?: Clock;
  /**
   * Where transpiled, metered components are cached. Default `$AGENTOS_CACHE`, else
   * `<home>/cache`; data dirs may share one.
   */
  cacheDir?: string;
  /** Largest message body accepted, in bytes of JSON. Default 1 MiB. */
  maxMessageBytes?: number;
  /**
   * Which components may load (kernel/signing/policy.ts): signed by a key of the data dir's
   * trust store (`trust.json`, `agentos trust`) or of `trust`, for the publisher their manifest
   * names. `allowUnsigned` admits unsigned components too, logging a warning on each load.
   */
  policy?: PolicyOptions;
  /**
   * Largest value one call may return, in bytes (UTF-8 of the JSON text a handler or tool
   * returns, of a skill's descriptor list as JSON, or of an `err` reason). A value larger than
   * the 4 MiB command channel goes over in chunks; one over this limit ends the call with
   * AOS_E_RESULT_TOO_LARGE and discards the instance (its fuel is counted). Default 16 MiB, at
   * most 256 MiB.
   */
  maxResultBytes?: number;
  /**
   * Make an agent dormant once it sat idle this long (ms): its instance's state is kept on disk
   * and its instance dropped, and its next message starts an instance from that state
   * (docs/snapshots.md). Default null: agents stay resident.
   */
  dormantAfterMs?: number | null;
  /**
   * Take a checkpoint of an agent's state every this many committed invocations (and when it is
   * suspended, goes dormant or is exported): a lost instance is rebuilt from the latest one plus the journal
   * after it, and the journal before it can be pruned (docs/snapshots.md). Default 1000; null:
   * only on suspend and dormancy.
   */
  checkpointEvery?: number | null;
  /**
   * What the next start of a lost instance (a trap, an exhausted limit, a lost worker, a restart
   * of the kernel) does. `rebuild` (default): its state as of its last committed invocation,
   * rebuilt from its latest checkpoint and the journal after it, with no effect done twice.
   * `init`: a fresh instance runs init (its heap starts afresh; its stored state stays).
   */
  recovery?: 'rebuild' | 'init';
  /**
   * `all` (default): every journal record is kept (`record` bundles whole runs). `checkpoints`:
   * each time a checkpoint of an agent is kept, its journal before the oldest kept checkpoint is
   * dropped (its spawn record stays), so its disk use stays flat; recovery and replay start from
   * a checkpoint (docs/snapshots.md, *Retention*).
   */
  retention?: 'all' | 'checkpoints';
  /**
   * Spare instances each worker keeps per component it started lately (up to four components),
   * instantiated between commands so the next start of that component runs only init
   * (docs/components.md, *Spare instances*). They start exactly as a fresh instance would (the
   * same fuel, the same journal), and are made only while the process has room for many
   * instances. Default 1; 0: none; at most 8.
   */
  spares?: number;
  /**
   * With `retention: 'checkpoints'`: each automatic prune first writes what it drops to a journal
   * archive in this directory (`<agent>-<first>-<last>.journal`), synced, and prunes nothing if
   * it cannot. Default null: what is pruned is not kept.
   */
  journalArchiveDir?: string | null;
  /** How long close() waits for invocations in flight before it stops the workers. Default 10 s. */
  closeTimeoutMs?: number;
  /**
   * Deliver queued messages. Default true. False opens the kernel to look (list, inspect,
   * journal) without running any agent; messages sent meanwhile wait in their mailboxes.
   */
  deliver?: boolean;
  /** Default limits of every agent (fuel budgets, memory cap, deadline, mailbox, hostcall rates). */
  limits?: LimitsInput;
  /**
   * Told of slow one-time work as it starts and ends (metering a large component for fuel,
   * 5–13 s the first time), so a CLI can show it. It is also logged at `info`.
   */
  onProgress?: (message: string) => void;
}

export interface SpawnOptions {
  /** Capabilities granted (`log`, `working-memory:read-only`, ...). Default: none. */
  grants?: string[];
  /** JSON value passed to `init`. Default `{}`. */
  config?: unknown;
  /** Name used in the id. Default: the file name, else the world. */
  name?: string;
  /** What a crash leads to. Default `on-message`: the next message starts a new instance. */
  restart?: RestartPolicy;
  /** Seed of the agent's random generator (u64). Default: random. */
  seed?: bigint | number | string;
  /** Overrides of the kernel's default limits. */
  limits?: LimitsInput;
  /** Scheduling class. Default `normal`. */
  priority?: Priority;
  /** CPU share against agents of the same class. Default 1. */
  weight?: number;
}

export interface SendOptions {
  /** Message type. Default `text`. */
  kind?: string;
  /**
   * Stop waiting after this many ms (AOS_E_TIMED_OUT). The message is not withdrawn: it stays
   * queued and is handled (and journaled) when the agent gets to it. Default: wait.
   */
  timeoutMs?: number;
}

export interface ToolDescriptor {
  name: string;
  description: string;
  inputSchema: unknown;
  outputSchema?: unknown;
}

export type { AgentInfo, AgentSettings, CheckpointInfo };
