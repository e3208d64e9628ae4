/**
 * Dormant agents: an agent idle for `dormantAfterMs` (no call in flight, nothing queued) has its
 * instance's state taken (worker/snapshot.ts), kept on disk (store/snapshots.ts) and its instance
 * dropped: it then costs no worker memory and no compute. Its next message starts an instance
 * from that state instead of running init (instances.ts), so the agent goes on as if it had never
 * stopped, and a restart of the kernel meanwhile changes nothing (the snapshot is on disk).
 *
 * @example
 * const d = new Dormancy({ afterMs: 60_000, ... });
 * d.start();   // looks every afterMs / 2 (at most every second)
 */
import type { Logger } from 'pino';
import type { AgentRuntime } from '../agents/agent.js';
import { BUILD } from '../loader/loader.js';
import type { Journal } from '../store/journal.js';
import type { Snapshots } from '../store/snapshots.js';
import type { Checkpointing } from './checkpointing.js';

export interface DormancyDeps {
  afterMs: number;
  agents: () => Iterable<AgentRuntime>;
  snapshotOf: (agent: AgentRuntime) => Promise<Uint8Array | null>;
  release: (agent: AgentRuntime) => void;
  wake: (agent: AgentRuntime) => void;
  snapshots: Snapshots;
  /** A dormant agent's state is its checkpoint too. */
  checkpointing: Checkpointing;
  journal: Journal;
  logger: Logger;
  now: () => number;
}

export class Dormancy {
  private timer: ReturnType<typeof setInterval> | undefined;
  private sweeping = false;

  constructor(private readonly deps: DormancyDeps) {}

  start(): void {
    const every = Math.max(10, Math.min(1000, Math.floor(this.deps.afterMs / 2)));
    this.timer = setInterval(() => void this.sweep(), every);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Whether the agent sat idle long enough to go dormant now (`held`: by this sweep). */
  private idle(a: AgentRuntime, now: number, held = false): boolean {
    return (
      a.worker !== null &&
      !a.busy &&
      a.held === held &&
      !a.dormant &&
      a.queue.length === 0 &&
      a.record.state === 'ready' &&
      now - a.lastActive >= this.deps.afterMs
    );
  }

  private async sweep(): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    try {
      // One lane per worker: taking a state is a task on the agent's own worker, so agents on
      // different workers go dormant side by side and those on one worker one after the other.
      const now = this.deps.now();
      const lanes = new Map<number, AgentRuntime[]>();
      for (const a of this.deps.agents()) {
        if (!this.idle(a, now)) continue;
        const lane = lanes.get(a.worker!) ?? [];
        lane.push(a);
        lanes.set(a.worker!, lane);
      }
      await Promise.all(
        [...lanes.values()].map(async (lane) => {
          for (const a of lane) if (this.idle(a, this.deps.now())) await this.sleep(a);
        }),
      );
    } finally {
      this.sweeping = false;
    }
  }

  /** Takes the agent's state and drops its instance; nothing changes if it got work meanwhile. */
  private async sleep(a: AgentRuntime): Promise<void> {
    a.held = true;
    a.heldBy = 'dormancy';
    try {
      const bytes = await this.deps.snapshotOf(a);
      if (!bytes || !this.idle(a, this.deps.now(), true)) return; // it got work meanwhile
      const at = this.deps.now();
      this.deps.snapshots.put(a.id, { digest: a.record.digest, build: BUILD, bytes, at });
      this.deps.checkpointing.keep(a, bytes);
      this.deps.journal.append(a.id, { t: 'lifecycle', at, op: 'dormant', detail: `${bytes.length} bytes` });
      a.dormant = true;
      this.deps.release(a);
    } catch (e) {
      this.deps.logger.warn(
        { agent: a.id, err: e },
        'could not take the state of an idle agent; it stays resident',
      );
    } finally {
      a.unhold();
      this.deps.wake(a);
    }
  }
}
