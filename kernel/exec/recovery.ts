/**
 * Recovery: the heap of an agent whose instance was lost (a trap, fuel or memory exhausted, a
 * deadline, a lost worker, a kill -9 of the kernel) rebuilt exactly as it was after its last
 * committed invocation, instead of starting afresh from init. The base is the agent's latest
 * checkpoint (store/checkpoints.ts), or its last instance start that ran init when that came
 * later; the invocations the journal holds after it are executed again on an instance started
 * from that base, on the same worker, each hostcall answered from the journal (no capability
 * runs: nothing is done twice), each outcome's kind and fuel checked against the record. The
 * rebuilt state is then taken (a snapshot) and the agent's new instance starts from it.
 *
 * Invocations that crashed or were cut are not executed again: their effects were rolled back
 * with their transaction, and the state recovery rebuilds is the one before them.
 *
 * A checkpoint that does not rebuild (damaged) gives way to the whole journal from the spawn,
 * when it is kept. What it does not rebuild (the journal is not whole, the component behaves
 * otherwise than it did) is reported; the instance then starts from init, as without recovery.
 *
 * @example
 * const rebuilt = await recovery.rebuild(agent, slot, load, budget);
 * rebuilt?.snapshot;   // the state to start from, or undefined: start from init
 */
import type { Logger } from 'pino';
import type { AgentRuntime } from '../agents/agent.js';
import { BUILD } from '../loader/loader.js';
import { ReplayCursor } from '../replay/cursor.js';
import { type Step, stepsOf } from '../replay/steps.js';
import type { Checkpoint, Checkpoints } from '../store/checkpoints.js';
import type { Journal, JournalEntry } from '../store/journal.js';
import type { Store } from '../store/store.js';
import type { LoadTask, TaskResult, WireBudget } from '../worker/protocol.js';
import { callTask } from './delivery.js';
import type { WorkerPool, WorkerSlot } from './pool.js';

export interface RecoveryDeps {
  pool: WorkerPool;
  store: Store;
  journal: Journal;
  checkpoints: Checkpoints;
  logger: Logger;
}

export interface Rebuilt {
  snapshot: Uint8Array;
  /** The journal entry it was rebuilt from (a checkpoint's, or an instance start's). */
  from: number;
  /** Invocations executed again. */
  replayed: number;
}

/** Instance starts from a kept state (dormancy, recovery, a fork, an import): the heap was not started afresh. */
const CONTINUING = new Set(['resume', 'recover', 'fork', 'import']);

type Invoke = Extract<Step, { t: 'invoke' }>;

export class Recovery {
  constructor(private readonly deps: RecoveryDeps) {}

  /**
   * The agent's state after its last committed invocation, rebuilt on `slot` (which the caller
   * holds for it); undefined when there is nothing to rebuild it from (start from init).
   * `load` makes the load task of an instance with no worker-answered calls, from `snapshot`.
   */
  async rebuild(
    agent: AgentRuntime,
    slot: WorkerSlot,
    load: (snapshot?: Uint8Array) => LoadTask,
    budget: WireBudget,
  ): Promise<Rebuilt | undefined> {
    await this.deps.store.flushed();
    const cp = this.deps.checkpoints.latest(agent.id);
    try {
      return await this.rebuildFrom(agent, slot, load, budget, cp);
    } catch (e) {
      // A checkpoint that does not start or replay (damaged, say): the whole journal, if kept.
      if (!cp || !this.whole(agent.id)) throw e;
      this.deps.logger.warn(
        { agent: agent.id, checkpoint: cp.seq, err: (e as Error).message },
        'its checkpoint did not rebuild its state; rebuilding from its whole journal',
      );
      return await this.rebuildFrom(agent, slot, load, budget, undefined);
    }
  }

  /** Whether the journal of `id` holds every entry from its spawn (none was pruned). */
  private whole(id: string): boolean {
    let i = 0;
    for (const e of this.deps.journal.entries(id)) if (e.seq !== i++) return false;
    return true;
  }

  private async rebuildFrom(
    agent: AgentRuntime,
    slot: WorkerSlot,
    load: (snapshot?: Uint8Array) => LoadTask,
    budget: WireBudget,
    cp: Checkpoint | undefined,
  ): Promise<Rebuilt | undefined> {
    const id = agent.id;
    const rec = agent.record;
    const spawn = [...this.deps.journal.entries(id, 0, 1)];
    const rest = [...this.deps.journal.entries(id, cp ? cp.seq + 1 : 1)];
    const { steps } = stepsOf([...spawn, ...rest], id, true);
    // The base: the last start that ran init, or else the checkpoint.
    let base = -1;
    for (const [i, s] of steps.entries()) if (s.t === 'start' && !CONTINUING.has(s.entry.reason)) base = i;
    const start = base >= 0 ? (steps[base] as Extract<Step, { t: 'start' }>) : undefined;
    if (!start && !usable(cp, rec.digest)) return undefined;
    const redo = steps
      .slice(base + 1)
      .filter((s): s is Invoke => s.t === 'invoke' && !s.outcome.cut && s.outcome.result !== 'crash');
    if (redo.length === 0) {
      // Nothing committed since the base: init again is the rebuild (no state to take).
      return start ? undefined : { snapshot: cp!.bytes, from: cp!.seq, replayed: 0 };
    }

    const cursor = new ReplayCursor();
    cursor.quiet = true;
    agent.replay = cursor;
    try {
      if (start) cursor.expect(start.calls, 0);
      const started = await this.deps.pool.run(slot, load(start ? undefined : cp!.bytes));
      this.check(cursor, started, start ? `its init at #${start.entry.seq}` : `checkpoint #${cp!.seq}`);
      // A call's own budget, less what the wall clock decides (the recorded run was not cut).
      const timeless = { ...budget, slice: Number.MAX_SAFE_INTEGER, deadlineMs: null };
      for (const step of redo) {
        cursor.expect(step.calls, step.invocation);
        const fuel = Math.max(budget.fuel, step.outcome.fuel * 2 + budget.tick);
        const task = callTask(rec, step.entry.message, { ...timeless, fuel });
        const r = await this.deps.pool.run(slot, { ...task, generation: rec.generation + 1 });
        this.check(cursor, r, `invocation #${step.entry.seq}`, step.outcome);
      }
      const snap = await this.deps.pool.run(slot, {
        op: 'snapshot',
        agent: id,
        generation: rec.generation + 1,
        budget,
      });
      if (snap.kind !== 'ok' || !(snap.value instanceof Uint8Array))
        throw new Error(`its rebuilt state could not be taken: ${describe(snap)}`);
      const from = start ? start.entry.seq : cp!.seq;
      return { snapshot: snap.value, from, replayed: redo.length };
    } finally {
      agent.replay = null;
    }
  }

  /** @throws Error where the re-execution did not go as recorded */
  private check(
    cursor: ReplayCursor,
    r: TaskResult | { kind: 'batch' },
    what: string,
    want?: Extract<JournalEntry, { t: 'outcome' }>,
  ): void {
    if (cursor.divergence)
      throw new Error(
        `${what} made another hostcall than recorded: expected ${cursor.divergence.expected}, got ${cursor.divergence.actual}`,
      );
    if (cursor.left().length > 0)
      throw new Error(`${what} made ${cursor.left().length} hostcall(s) fewer than recorded`);
    if (r.kind === 'batch') throw new Error(`${what} ran as a batch`);
    if (!want) {
      if (r.kind !== 'ok') throw new Error(`${what} did not start: ${describe(r)}`);
      return;
    }
    if (r.kind !== want.result)
      throw new Error(`${what} ended ${describe(r)}; it was recorded ${want.result}`);
    if (r.fuel !== want.fuel)
      throw new Error(`${what} used ${r.fuel} fuel; it was recorded using ${want.fuel}`);
  }
}

/** Whether the checkpoint is a state of the agent's component as this kernel builds it. */
function usable(cp: Checkpoint | undefined, digest: string): cp is Checkpoint {
  return cp !== undefined && cp.digest === digest && cp.build === BUILD;
}

function describe(r: TaskResult): string {
  if (r.kind === 'crash') return `crashed: ${r.message}`;
  if (r.kind === 'error') return `with error ${r.error.tag}`;
  return r.kind;
}
