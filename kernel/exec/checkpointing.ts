/**
 * Checkpointing: an agent's instance state taken and kept (store/checkpoints.ts) every
 * `checkpointEvery` committed invocations, and when asked (`kernel.checkpoint`), so that recovery
 * (exec/recovery.ts) re-executes at most that many invocations and the journal before the
 * checkpoint can be pruned (exec/retention.ts). The agent is held while its state is taken
 * (no call of it starts), once its call in flight ended; the snapshot runs on its worker when
 * that worker is free (exec/pinned.ts).
 *
 * @example
 * const c = new Checkpointing({ every: 1000, ... });
 * c.committed(agent);              // after each committed invocation: takes one when due
 * await c.take(agent);             // now: the checkpoint, or null when it has no instance
 */
import type { Logger } from 'pino';
import type { AgentRuntime } from '../agents/agent.js';
import { AgentOSError } from '../base/errors.js';
import { BUILD } from '../loader/loader.js';
import type { Checkpoint, Checkpoints } from '../store/checkpoints.js';
import type { Journal } from '../store/journal.js';

export interface CheckpointingDeps {
  /** Committed invocations between two checkpoints; null: only when asked and at dormancy. */
  every: number | null;
  snapshotOf: (agent: AgentRuntime) => Promise<Uint8Array | null>;
  wake: (agent: AgentRuntime) => void;
  checkpoints: Checkpoints;
  journal: Journal;
  logger: Logger;
  now: () => number;
  /** Told of each checkpoint kept (it may prune the journal before the oldest one). */
  kept?: (agent: string) => void;
}

export class Checkpointing {
  constructor(private readonly deps: CheckpointingDeps) {}

  /** One more invocation of `agent` committed: a checkpoint is taken once `every` are. */
  committed(agent: AgentRuntime): void {
    agent.sinceCheckpoint += 1;
    const every = this.deps.every;
    if (every === null || agent.sinceCheckpoint < every || agent.checkpointDue) return;
    agent.checkpointDue = true;
    setImmediate(() => {
      void this.take(agent).finally(() => {
        agent.checkpointDue = false;
      });
    });
  }

  /** Keeps `bytes` (the agent's state as of its journal's last entry) as a checkpoint. */
  keep(agent: AgentRuntime, bytes: Uint8Array): Checkpoint {
    const rec = agent.record;
    const c: Checkpoint = {
      seq: this.deps.journal.peek(rec.id) - 1,
      digest: rec.digest,
      build: BUILD,
      grants: rec.grants,
      bytes,
      at: this.deps.now(),
    };
    this.deps.checkpoints.put(rec.id, c);
    agent.sinceCheckpoint = 0;
    this.deps.kept?.(rec.id);
    return c;
  }

  /**
   * Takes the agent's state now, unless something else holds it or it has no live instance.
   * Never throws unless `strict`: a state that cannot be taken (too large for the command
   * channel) is logged. @throws AgentOSError with `strict`, AOS_E_BAD_STATE (held, or no
   * instance) or the snapshot's own error (AOS_E_RESULT_TOO_LARGE)
   */
  async take(agent: AgentRuntime, strict = false): Promise<Checkpoint | null> {
    if (agent.held || agent.worker === null || agent.record.state === 'terminated') {
      if (!strict) return null;
      throw new AgentOSError(
        'AOS_E_BAD_STATE',
        agent.held
          ? `agent ${agent.id} is held by ${agent.heldBy ?? 'another operation'}; try again when it ends`
          : `agent ${agent.id} has no instance whose state could be taken (it starts from init)`,
        { agent: agent.id, state: agent.record.state },
      );
    }
    agent.held = true;
    agent.heldBy = 'checkpoint';
    try {
      await agent.idle();
      if (agent.worker === null || (agent.record.state as string) === 'terminated') {
        if (strict)
          throw new AgentOSError('AOS_E_BAD_STATE', `agent ${agent.id} lost its instance`, {
            agent: agent.id,
          });
        return null;
      }
      const bytes = await this.deps.snapshotOf(agent);
      if (!bytes && strict)
        throw new AgentOSError('AOS_E_BAD_STATE', `agent ${agent.id} lost its instance`, { agent: agent.id });
      return bytes ? this.keep(agent, bytes) : null;
    } catch (e) {
      if (strict) throw e;
      this.deps.logger.warn({ agent: agent.id, err: (e as Error).message }, 'could not take a checkpoint');
      agent.sinceCheckpoint = 0; // not again at once
      return null;
    } finally {
      agent.unhold();
      this.deps.wake(agent);
    }
  }
}
