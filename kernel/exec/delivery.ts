/**
 * Delivery: handing an agent's queued message to its worker and settling what comes back —
 * starting an instance first when the agent has none there, expiring a message whose TTL has
 * passed, and batching: when an agent has several messages queued and its instance is resident,
 * up to `batch` of them go over in one command. Each is still its own call (own budget, own
 * outcome, own ack), and a batch stops at a crash. The worker marks which message runs (a word in
 * its park channel), so each message's hostcalls join its own transaction (txn.ts), opened with
 * its `invoke` record; a batch's outcomes are settled, and each call committed or dropped, when
 * it returns.
 *
 * @example
 * const used = { fuel: 0 };
 * await delivery.handOver(agent, slot, budget, used);
 */
import type { Logger } from 'pino';
import type { AgentRuntime } from '../agents/agent.js';
import { AgentOSError } from '../base/errors.js';
import { currentIndex } from '../bridge/park.js';
import type { Txn } from '../hostcall/txn.js';
import type { Journal } from '../store/journal.js';
import type { StoredMessage } from '../store/message.js';
import type { AgentRecord } from '../store/process-table.js';
import type { BatchResult, TaskResult, WireBudget } from '../worker/protocol.js';
import { budgetFor, checkUsage } from './budgets.js';
import type { Commits } from './commits.js';
import type { Instances } from './instances.js';
import type { Outcomes } from './outcomes.js';
import type { WorkerPool, WorkerSlot } from './pool.js';

export interface DeliveryDeps {
  pool: WorkerPool;
  journal: Journal;
  commits: Commits;
  logger: Logger;
  now: () => number;
  /** Fuel a call runs before it yields to waiting work of its class. */
  slice: number;
  /** Most messages handed to a worker in one command (1: one at a time). */
  batch: number;
  /** Fuel per meter grant. */
  tick: number;
}

/**
 * Most characters of message bodies in one batch: with JSON's worst case of 3 bytes a character
 * the batch stays well inside the 4 MiB command channel (a single message of the 1 MiB limit
 * always fits; a larger one goes alone).
 */
export const BATCH_CHARS = 512 * 1024;

interface InFlight {
  agent: AgentRuntime;
  messages: StoredMessage[];
  /** The transactions of the messages that have started, in order (each opened with its `invoke`). */
  txns: Txn[];
}

export class Delivery {
  /** Batches in flight, by worker thread. */
  private readonly inFlight = new Map<number, InFlight>();

  constructor(
    private readonly deps: DeliveryDeps,
    private readonly instances: Instances,
    private readonly outcomes: Outcomes,
  ) {}

  /** Hands the agent's oldest message (or a batch) to its worker; adds the fuel its calls used to `used`. */
  async handOver(
    agent: AgentRuntime,
    slot: WorkerSlot,
    admitted: WireBudget,
    used: { fuel: number },
  ): Promise<void> {
    let budget = admitted;
    const message = agent.queue.head!;
    const rec = agent.record;
    if (message.expiresAt !== undefined && this.deps.now() > message.expiresAt) {
      this.outcomes.expire(agent, message);
      return;
    }
    try {
      if (agent.worker !== slot.thread) {
        const why = rec.generation === 0 ? 'first message' : 'restart';
        const started = await this.instances.start(agent, slot, why, budget);
        if (started.kind !== 'missing') used.fuel += started.fuel;
        if (started.kind !== 'ok') return this.outcomes.startFailed(agent, message, started);
        if (rec.state === 'crashed') rec.state = 'ready';
        // init used fuel of its own; the call gets what is left (if a budget blocks now, the
        // call keeps the budget it was admitted with: the overshoot is one init at most).
        const left = budgetFor(agent, this.deps.now(), this.deps.tick, this.deps.slice);
        if ('fuel' in left) budget = left;
      }
      const batch = this.batchable(agent);
      if (batch) {
        await this.handOverBatch(agent, slot, batch, budget, used);
        return;
      }
      const task = callTask(rec, message, budget);
      let txn = this.deps.commits.begin(agent, { t: 'invoke', at: this.deps.now(), message });
      let result = this.sound(agent, await this.deps.pool.run(slot, task), budget);
      if (result.kind === 'missing') {
        // The worker lost the instance (it was replaced): nothing ran; start a new one and try
        // once more (the start is a call of its own, with its own transaction).
        this.deps.commits.abort(agent, txn, () => {});
        agent.instanceGone(slot);
        const started = await this.instances.start(agent, slot, 'instance lost', budget);
        if (started.kind !== 'missing') used.fuel += started.fuel;
        if (started.kind !== 'ok') return this.outcomes.startFailed(agent, message, started);
        txn = this.deps.commits.begin(agent, { t: 'invoke', at: this.deps.now(), message });
        result = this.sound(agent, await this.deps.pool.run(slot, task), budget);
      }
      if (result.kind !== 'missing') used.fuel += result.fuel;
      this.outcomes.settle(agent, slot, message, result, txn);
    } catch (e) {
      // The component could not be loaded (a coded error), or the worker thread itself died.
      agent.instanceGone(slot);
      const txn = agent.txn ?? this.deps.commits.begin(agent, null);
      this.outcomes.settle(agent, slot, message, lostResult(agent, slot, e, budget), txn);
    }
  }
  /**
   * The worker's result with its usage figures made sound before anything reads them (the
   * scheduler's virtual time too): an unsound one is charged conservatively and logged.
   */
  private sound<R extends TaskResult | BatchResult>(agent: AgentRuntime, r: R, budget: WireBudget): R {
    const problems = checkUsage(r, budget.fuel);
    if (problems.length > 0)
      this.deps.logger.error({ agent: agent.id, problems }, 'a worker reported unsound usage figures');
    return r;
  }

  /**
   * The queued messages to hand over in one command, or null for one at a time. Batches go to
   * agents (not skills) without window or lifetime budgets, which are checked per call, and stop
   * before a message whose TTL has passed (it is expired on its own).
   */
  private batchable(agent: AgentRuntime): StoredMessage[] | null {
    const rec = agent.record;
    if (this.deps.batch < 2 || rec.world !== 'agent' || agent.queue.length < 2 || agent.unbatched > 0)
      return null;
    if (rec.limits.fuel.perSecond !== null || rec.limits.fuel.lifetime !== null) return null;
    const now = this.deps.now();
    const out: StoredMessage[] = [];
    let chars = 0;
    for (const m of agent.queue) {
      if (out.length >= this.deps.batch || (m.expiresAt !== undefined && now > m.expiresAt)) break;
      chars += m.body.length;
      if (chars > BATCH_CHARS) break;
      out.push(m);
    }
    return out.length > 1 ? out : null;
  }

  /**
   * Runs `messages` on the agent's resident instance in one worker command, then settles each
   * result in order. Each message's transaction opens (with its `invoke` record) as it starts: at
   * its first hostcall (see beforeHostcall), or when settled, so every hostcall record follows
   * the `invoke` of its message and lands with its outcome.
   */
  private async handOverBatch(
    agent: AgentRuntime,
    slot: WorkerSlot,
    messages: StoredMessage[],
    budget: WireBudget,
    used: { fuel: number },
  ): Promise<void> {
    const rec = agent.record;
    const ctx: InFlight = { agent, messages, txns: [] };
    agent.inFlight = messages.length;
    this.inFlight.set(slot.thread, ctx);
    try {
      const task = {
        op: 'handleBatch' as const,
        agent: rec.id,
        generation: rec.generation,
        budget,
        messages,
      };
      let r: Awaited<ReturnType<typeof this.deps.pool.runBatch>>;
      try {
        r = this.sound(agent, await this.deps.pool.runBatch(slot, task), budget);
      } catch (e) {
        // The worker died: which message it was on is unknown to its outcome, so none is
        // blamed now; all that did not settle are delivered again on a new instance, one at a
        // time, so a message that kills its worker is blamed on its own (its attempts counted,
        // then dead-lettered) instead of taking its batch down forever.
        agent.instanceGone(slot);
        const killed = slot.killed?.agent === rec.id ? slot.killed : undefined;
        if (killed) {
          // The watchdog ended the message that ran past its deadline: it alone is blamed; those
          // before it are dropped (their results went with the worker) and delivered again.
          const txn = this.txnOf(ctx, killed.index);
          const culprit = messages[killed.index]!;
          this.dropStarted(ctx, 'the worker was terminated for a later message of its batch', txn);
          this.outcomes.settle(agent, slot, culprit, lostResult(agent, slot, e, budget), txn);
          return;
        }
        this.deps.logger.warn({ agent: rec.id, err: (e as Error)?.message }, 'worker lost during a batch');
        this.dropStarted(ctx, `worker lost during a batch: ${(e as Error)?.message ?? e}`);
        agent.unbatched = Math.max(agent.unbatched, messages.length);
        return;
      }
      if (r.kind === 'missing') {
        // The worker lost the instance: nothing ran; the next delivery starts a new one.
        this.dropStarted(ctx, 'instance missing');
        agent.instanceGone(slot);
        return;
      }
      for (const [i, result] of r.results.entries()) {
        const txn = this.txnOf(ctx, i);
        used.fuel += result.fuel;
        try {
          this.outcomes.settle(agent, slot, messages[i]!, result, txn);
        } catch (e) {
          this.deps.logger.error(
            { agent: rec.id, messageId: messages[i]!.id, err: e },
            'settling a batch result failed',
          );
          break;
        }
      }
    } finally {
      this.dropStarted(ctx, 'not settled');
      this.inFlight.delete(slot.thread);
    }
  }

  /**
   * The transaction of batch message `index`, opening it (and those of the messages before it)
   * with its `invoke` record when it has none yet; it becomes the agent's current one.
   */
  private txnOf(ctx: InFlight, index: number): Txn {
    const last = Math.min(index, ctx.messages.length - 1);
    while (ctx.txns.length <= last) {
      const message = ctx.messages[ctx.txns.length]!;
      const prior = ctx.txns.at(-1) ?? null;
      ctx.txns.push(this.deps.commits.begin(ctx.agent, { t: 'invoke', at: this.deps.now(), message }, prior));
    }
    const txn = ctx.txns[last]!;
    ctx.agent.txn = txn;
    return txn;
  }

  /**
   * The batch's worker went away before it returned: the calls that started are dropped (their
   * effects never applied), their records kept with a crash outcome; their messages stay queued.
   */
  private dropStarted(ctx: InFlight, why: string, except?: Txn): void {
    for (const [i, txn] of ctx.txns.entries()) {
      if (txn.state !== 'open' || txn === except) continue;
      const messageId = ctx.messages[i]!.id;
      this.deps.commits.abort(ctx.agent, txn, () =>
        this.deps.journal.append(ctx.agent.id, {
          t: 'outcome',
          at: this.deps.now(),
          messageId,
          result: 'crash',
          value: `${why}; the message is delivered again`,
          us: 0,
          fuel: 0,
        }),
      );
    }
    ctx.txns.length = 0;
  }

  /**
   * A hostcall is about to be served on `slot` (made by batch message `index`, or the one
   * running now): it joins the transaction of the batch message making it.
   */
  beforeHostcall(slot: WorkerSlot, index?: number): void {
    const ctx = this.inFlight.get(slot.thread);
    if (ctx) this.txnOf(ctx, index ?? currentIndex(slot.park));
  }
}

/**
 * What a call whose worker went away ended with: AOS_E_DEADLINE when the watchdog terminated the
 * worker for this agent's call (charged its whole fuel budget: the meter's counts went with the
 * thread), else a crash naming why the worker was lost.
 */
export function lostResult(
  agent: AgentRuntime,
  slot: WorkerSlot,
  e: unknown,
  budget: WireBudget,
): TaskResult {
  const killed = slot.killed?.agent === agent.id ? slot.killed : undefined;
  const base = { us: 0, thread: slot.thread, fuel: 0, memory: 0 };
  if (killed) {
    const message = `deadline passed: the invocation ran ${killed.ms} ms without reaching a metering point; its worker was terminated`;
    const details = { ms: killed.ms, deadlineMs: killed.deadlineMs, watchdog: true };
    return {
      kind: 'crash',
      code: 'AOS_E_DEADLINE',
      message,
      details,
      ...base,
      us: killed.ms * 1000,
      fuel: budget.fuel,
    };
  }
  const why = e instanceof AgentOSError ? e.toString() : `worker lost: ${(e as Error)?.message ?? e}`;
  // Its worker went away: the call was cut short, not ended by what it computed.
  return {
    kind: 'crash',
    message: why,
    ...base,
    ...(e instanceof AgentOSError ? {} : { details: { lost: true } }),
  };
}

/** The worker task that delivers `message` to the agent's instance. */
export function callTask(rec: AgentRecord, message: StoredMessage, budget: WireBudget) {
  const base = { agent: rec.id, generation: rec.generation, budget };
  return rec.world === 'agent'
    ? { ...base, op: 'handle' as const, message }
    : message.kind === 'tool.describe'
      ? { ...base, op: 'describe' as const }
      : {
          ...base,
          op: 'invoke' as const,
          ...(JSON.parse(message.body) as { tool: string; args: string }),
        };
}
