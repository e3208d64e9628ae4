/**
 * Instances: starting an agent's component instance on a worker — the compiled component
 * (loaded once per agent), the load task with its import plan, budget and memory cap, the
 * journal's `instance` record (the start is a call of its own: init's effects land when the
 * instance is up, or not at all), and where the instance now lives.
 *
 * @example
 * const r = await instances.start(agent, slot, 'first message', budget);
 */
import type { Logger } from 'pino';
import type { AgentRuntime } from '../agents/agent.js';
import { BUILD, type LoadedComponent, type Loader } from '../loader/loader.js';
import type { Journal } from '../store/journal.js';
import type { Snapshots } from '../store/snapshots.js';
import type { LoadTask, TaskResult, WireBudget } from '../worker/protocol.js';
import { account } from './budgets.js';
import type { Commits } from './commits.js';
import type { WorkerPool, WorkerSlot } from './pool.js';
import type { Rebuilt, Recovery } from './recovery.js';

export interface InstanceDeps {
  pool: WorkerPool;
  /** Dormant agents' kept state: an instance of one starts from it. */
  snapshots: Snapshots;
  logger: Logger;
  loader: Loader;
  journal: Journal;
  commits: Commits;
  /** Rebuilds a lost instance's state from the journal; absent: a lost instance starts from init. */
  recovery?: Recovery;
  now: () => number;
}

/** The starts that follow a lost instance (recovery rebuilds its state first). */
const RESTARTS = new Set(['restart', 'instance lost']);

export class Instances {
  constructor(private readonly deps: InstanceDeps) {}

  /** Starts an instance of `agent` on `slot` (runs init). Returns the task result. */
  async start(
    agent: AgentRuntime,
    slot: WorkerSlot,
    reason: string,
    budget: WireBudget,
    /** Start from this state instead of running init (a fork). */
    snapshot?: Uint8Array,
  ): Promise<TaskResult> {
    const component: LoadedComponent = await this.component(agent);
    const rec = agent.record;
    // A dormant agent goes on from its kept state; one that does not fit (another component)
    // is dropped, and the instance starts afresh.
    let fromDormancy = false;
    if (!snapshot && agent.dormant) {
      const kept = this.deps.snapshots.get(rec.id);
      if (kept && kept.digest === rec.digest && kept.build === BUILD) {
        snapshot = kept.bytes;
        fromDormancy = true;
        reason = 'resume';
      } else this.wake(agent);
    }
    // A replay's own recovery (replay-run.ts): the state it kept before the recorded crash.
    if (!snapshot && agent.startFrom) {
      snapshot = agent.startFrom;
      reason = 'recover';
    }
    agent.startFrom = null;
    let recovered: Rebuilt | undefined;
    if (!snapshot && RESTARTS.has(reason) && this.deps.recovery && !agent.replay) {
      recovered = await this.recover(agent, slot, component, budget);
      if (recovered) {
        snapshot = recovered.snapshot;
        reason = 'recover';
      }
    }
    rec.generation += 1;
    // init is a call of its own: what it does lands when the instance is up, or not at all.
    const record = {
      t: 'instance' as const,
      at: this.deps.now(),
      generation: rec.generation,
      reason,
      ...(recovered ? { recovered: { from: recovered.from, replayed: recovered.replayed } } : {}),
    };
    const txn = this.deps.commits.begin(agent, record);
    let r: TaskResult;
    try {
      r = await this.deps.pool.run(slot, this.loadTask(agent, slot, component, budget, false, snapshot));
      if (r.kind === 'missing' && r.needModules)
        r = await this.deps.pool.run(slot, this.loadTask(agent, slot, component, budget, true, snapshot));
    } catch (e) {
      this.deps.commits.abort(agent, txn, () => {});
      throw e;
    }
    slot.digests.add(rec.digest);
    const bad = account(agent, r, this.deps.now());
    if (bad.length > 0)
      this.deps.logger.error({ agent: rec.id, problems: bad }, 'a worker reported unsound usage figures');
    if (r.kind === 'ok') {
      agent.residentOn(slot);
      this.deps.commits.commit(agent, txn, () => {});
    } else this.deps.commits.abort(agent, txn, () => {});
    if (fromDormancy) {
      // Out of date once the instance runs on: a restart must not go back to it.
      this.wake(agent);
      if (r.kind !== 'ok' && r.kind !== 'missing') {
        this.deps.logger.warn({ agent: rec.id }, 'its kept state did not start; it starts afresh');
        return this.start(agent, slot, 'kept state refused', budget);
      }
    }
    return r;
  }

  /** The agent's rebuilt state (exec/recovery.ts), or undefined (it starts from init). */
  private async recover(
    agent: AgentRuntime,
    slot: WorkerSlot,
    component: LoadedComponent,
    budget: WireBudget,
  ): Promise<Rebuilt | undefined> {
    const rec = agent.record;
    const load = (snapshot?: Uint8Array): LoadTask => ({
      ...this.loadTask(agent, slot, component, budget, true, snapshot),
      // Every call goes to the kernel, where the journal answers it.
      generation: rec.generation + 1,
      workerModules: {},
    });
    try {
      return await this.deps.recovery!.rebuild(agent, slot, load, budget);
    } catch (e) {
      this.deps.logger.warn(
        { agent: rec.id, err: (e as Error).message },
        'its state could not be rebuilt from the journal; it starts from init',
      );
      this.deps.journal.append(rec.id, {
        t: 'lifecycle',
        at: this.deps.now(),
        op: 'unrecovered',
        detail: (e as Error).message,
      });
      return undefined;
    }
  }

  /** The agent is no longer dormant: its kept state goes. */
  private wake(agent: AgentRuntime): void {
    agent.dormant = false;
    this.deps.snapshots.remove(agent.id);
  }

  private loadTask(
    agent: AgentRuntime,
    slot: WorkerSlot,
    c: LoadedComponent,
    budget: WireBudget,
    withModules: boolean,
    snapshot?: Uint8Array,
  ) {
    const rec = agent.record;
    return {
      op: 'load' as const,
      agent: rec.id,
      generation: rec.generation,
      budget,
      memoryBytes: rec.limits.memoryBytes,
      world: rec.world,
      digest: rec.digest,
      glueUrl: c.glueUrl,
      imports: agent.plan,
      workerModules: agent.workerModules,
      config: rec.config,
      ...(withModules || !slot.digests.has(rec.digest) ? { modules: c.modules } : {}),
      ...(snapshot ? { snapshot } : {}),
    };
  }

  component(agent: AgentRuntime): Promise<LoadedComponent> {
    if (!agent.component) {
      agent.component = this.deps.loader.fromStore(agent.record.digest);
      agent.component.catch(() => {
        agent.component = undefined;
      });
    }
    return agent.component;
  }
}
