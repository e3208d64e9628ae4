/**
 * Outcomes: what happens once a call has returned — its transaction committed or dropped
 * (commits.ts), the outcome record, the ack, the accounting, the waiter answered — for every
 * kind of result: a value, a guest error, a crash, a limit.
 *
 * A call that returned (a value or a guest error) commits: its effects, records, outcome and ack
 * land in one unit. A crash drops its effects; the message is delivered again if the failure may
 * pass (a trap or a throw on a fresh instance, a lost worker, a deadline missed under contention)
 * or dead-lettered at once if it would fail the same way again (failures.ts).
 *
 * @example
 * const outcomes = new Outcomes(deps);
 * outcomes.settle(agent, slot, message, taskResult, txn);
 */
import type { Logger } from 'pino';
import type { AgentRuntime, Waiter } from '../agents/agent.js';
import { AgentOSError, type ErrorCode } from '../base/errors.js';
import type { Txn } from '../hostcall/txn.js';
import type { DeadLetters } from '../store/dead-letters.js';
import type { EventHub } from '../store/events.js';
import type { Journal } from '../store/journal.js';
import type { Mailboxes } from '../store/mailbox.js';
import type { StoredMessage } from '../store/message.js';
import type { OutsideResults } from '../store/outside-results.js';
import type { TaskResult } from '../worker/protocol.js';
import { account } from './budgets.js';
import type { Commits } from './commits.js';
import { deterministic } from './failures.js';
import type { WorkerSlot } from './pool.js';

/** How often a message is put back after its agent's window budget ran out mid-call. */
const MAX_REQUEUES = 3;

export interface OutcomeDeps {
  journal: Journal;
  mailboxes: Mailboxes;
  commits: Commits;
  logger: Logger;
  now: () => number;
  /** Saves the agent's record (with capability state). */
  persist: (agent: AgentRuntime) => void;
  /** Suspends an agent whose lifetime fuel is spent (a lifecycle change, saved at once). */
  suspend: (agent: AgentRuntime, why: AgentOSError) => void;
  deadLetters: DeadLetters;
  /** Results of calls that reached outside, kept until their message's outcome is final. */
  outside: OutsideResults;
  events: EventHub;
  /** Deliveries a message gets before it is dead-lettered, and the first retry's delay (doubling). */
  attempts: number;
  backoffMs: number;
  /** An invocation's effects stand (it returned a value or an error): checkpointing counts it. */
  committed?: (agent: AgentRuntime) => void;
  /** Answers a request (a message with `replyTo`) with its handler's result. */
  reply: (
    from: string,
    message: StoredMessage,
    result: { value: unknown } | { error: { tag: string; val: string } },
  ) => void;
}

type Crash = Extract<TaskResult, { kind: 'crash' }>;

/** How long a message whose instance found no room in the process waits before it is tried again. */
export const CAPACITY_RETRY_MS = 1000;

export class Outcomes {
  /**
   * Set when close() stopped waiting for invocations in flight: whatever they return later is
   * not settled (no ack, no journal, no save), so their messages stay in the mailbox.
   */
  abandoned = false;

  constructor(private readonly deps: OutcomeDeps) {}

  /** An instance did not start for this message: the message fails with why. */
  startFailed(agent: AgentRuntime, message: StoredMessage, r: TaskResult): void {
    if (this.abandoned) return;
    agent.instanceGone();
    const err = startError(agent.id, r);
    if (err.code === 'AOS_E_CAPACITY') {
      // No room in the process (base/address-space.ts) says nothing of the agent or the
      // message: nothing ran, so the message stays at the head, uncounted, and is tried again.
      agent.retryAt = this.deps.now() + CAPACITY_RETRY_MS;
      this.deps.logger.warn(
        { agent: agent.id, code: err.code },
        `${err.message}; message ${message.id} waits for room`,
      );
      return;
    }
    const usage = r.kind === 'missing' ? undefined : r;
    this.deps.commits.unit(() => this.fail(agent, message, err, 'crash', err.message, usage));
  }

  /**
   * The agent's lifetime fuel is spent: it is suspended (until the budget is raised), `message`
   * stays queued, and whoever waits for it is told.
   */
  lifetimeSpent(agent: AgentRuntime, message: StoredMessage, err: AgentOSError): void {
    this.deps.suspend(agent, err);
    this.tell(agent, message, (w) => w.reject(err));
  }

  /** The message's TTL passed before it was delivered: it is dropped, and its sender told. */
  expire(agent: AgentRuntime, message: StoredMessage): void {
    if (this.abandoned) return;
    const at = this.deps.now();
    const value = `expired undelivered at ${at} (its TTL ended at ${message.expiresAt})`;
    this.deps.commits.unit(() => {
      this.deps.journal.append(agent.id, {
        t: 'outcome',
        at,
        messageId: message.id,
        result: 'expired',
        value,
        us: 0,
        fuel: 0,
      });
      this.finish(agent, message);
      this.deps.reply(agent.id, message, { error: { tag: 'timed-out', val: value } });
    });
    const err = new AgentOSError('AOS_E_EXPIRED', `message ${message.id} to ${agent.id} ${value}`, {
      agent: agent.id,
      messageId: message.id,
    });
    this.tell(agent, message, (w) => w.reject(err));
  }

  /** Commits or drops the call's transaction with its outcome, and answers whoever waits for it. */
  settle(agent: AgentRuntime, slot: WorkerSlot, message: StoredMessage, r: TaskResult, txn: Txn): void {
    if (this.abandoned) return;
    const rec = agent.record;
    rec.stats.invocations += 1;
    const bad = account(agent, r, this.deps.now());
    if (bad.length > 0)
      this.deps.logger.error({ agent: rec.id, problems: bad }, 'a worker reported unsound usage figures');
    if (r.kind !== 'missing') rec.stats.busyUs += r.us;
    // One message fewer to deliver alone after a lost batch.
    if (agent.unbatched > 0) agent.unbatched--;
    if (r.kind === 'ok' || r.kind === 'error') this.deps.committed?.(agent);
    if (r.kind === 'ok') {
      const value = r.value;
      const text = typeof value === 'string' ? value : JSON.stringify(value);
      const result: unknown = typeof value === 'string' ? JSON.parse(value) : value;
      this.deps.commits.commit(agent, txn, () => {
        this.deps.journal.append(rec.id, {
          t: 'outcome',
          at: this.deps.now(),
          messageId: message.id,
          result: 'ok',
          value: text,
          us: r.us,
          fuel: r.fuel,
        });
        this.finish(agent, message);
        this.deps.reply(agent.id, message, { value: result });
      });
      this.tell(agent, message, (w) => w.resolve(result));
      return;
    }
    if (r.kind === 'error') {
      rec.stats.errors += 1;
      const err = new AgentOSError('AOS_E_AGENT_ERROR', `${rec.id} returned ${r.error.tag}: ${r.error.val}`, {
        tag: r.error.tag,
        reason: r.error.val,
      });
      // A guest error is an answer: the call's effects stand.
      this.deps.commits.commit(agent, txn, () =>
        this.fail(agent, message, err, 'error', JSON.stringify(r.error), r),
      );
      return;
    }
    agent.instanceGone(slot);
    if (r.kind === 'crash' && r.code && r.code !== 'AOS_E_BAD_RESULT') {
      this.settleLimit(agent, message, r, txn);
      return;
    }
    const reason = r.kind === 'crash' ? r.message : 'instance missing after restart';
    const details = r.kind === 'crash' ? { reason, ...(r.details ?? {}) } : { reason };
    const code = r.kind === 'crash' && r.code ? r.code : 'AOS_E_AGENT_CRASHED';
    const err = new AgentOSError(code, `${rec.id} crashed: ${reason}`, details);
    const usage = r.kind === 'crash' ? r : undefined;
    this.deps.commits.abort(agent, txn, () => this.fail(agent, message, err, 'crash', reason, usage));
  }

  /**
   * A call ended by a limit (the instance is gone, its effects dropped). Fuel past the window
   * budget puts the message back until the next window (up to MAX_REQUEUES times); past the
   * lifetime budget it stays queued and the agent is suspended; anything else fails the message
   * with the limit's code.
   */
  private settleLimit(agent: AgentRuntime, message: StoredMessage, r: Crash, txn: Txn): void {
    const rec = agent.record;
    const err = new AgentOSError(r.code as ErrorCode, `${rec.id}: ${r.message}`, r.details ?? {});
    this.deps.events.emit('quota.hit', rec.id, { code: r.code, ...(r.details ?? {}) });
    const kind = r.details?.budgetKind;
    const at = this.deps.now();
    if (r.code === 'AOS_E_FUEL_EXHAUSTED' && (kind === 'window' || kind === 'lifetime')) {
      const tries = (agent.requeues.get(message.id) ?? 0) + 1;
      if (kind === 'window' && tries > MAX_REQUEUES) {
        agent.requeues.delete(message.id);
        this.deps.commits.abort(agent, txn, () => this.fail(agent, message, err, 'crash', r.message, r));
        return;
      }
      agent.requeues.set(message.id, tries);
      const value = `${r.message}; the message stays queued`;
      this.deps.commits.abort(agent, txn, () => {
        this.deps.journal.append(rec.id, {
          t: 'outcome',
          at,
          messageId: message.id,
          result: 'crash',
          value,
          us: r.us,
          fuel: r.fuel,
          ...(kind === 'window' ? { cut: true as const } : {}),
        });
        rec.lastError = { code: err.code, message: err.message, at };
        this.deps.persist(agent);
      });
      if (kind === 'lifetime' && rec.state !== 'terminated') this.lifetimeSpent(agent, message, err);
      return;
    }
    agent.requeues.delete(message.id);
    this.deps.commits.abort(agent, txn, () => this.fail(agent, message, err, 'crash', r.message, r));
  }

  /**
   * Records a failed invocation and what it leads to (inside its unit): a guest error consumes
   * the message; a crash delivers it again after a backoff, or dead-letters it after its last
   * attempt, or at once when it would fail the same way again.
   */
  private fail(
    agent: AgentRuntime,
    message: StoredMessage,
    error: AgentOSError,
    result: 'error' | 'crash',
    value: string,
    usage: { us: number; fuel: number } = { us: 0, fuel: 0 },
  ): void {
    let err = error;
    const rec = agent.record;
    const at = this.deps.now();
    const { us, fuel } = usage;
    const d = error.details as { lost?: boolean; budgetKind?: string } | undefined;
    const cut = error.code === 'AOS_E_DEADLINE' || d?.lost === true || d?.budgetKind === 'window';
    this.deps.journal.append(rec.id, {
      t: 'outcome',
      at,
      messageId: message.id,
      result,
      value,
      us,
      fuel,
      ...(cut ? { cut: true as const } : {}),
    });
    if (result === 'crash') {
      rec.stats.crashes += 1;
      rec.state = rec.state === 'terminated' || rec.state === 'suspended' ? rec.state : 'crashed';
      rec.lastError = { code: err.code, message: err.message, at };
      this.deps.journal.append(rec.id, { t: 'lifecycle', at, op: 'crash', detail: err.message });
      this.deps.logger.warn({ agent: rec.id, code: err.code }, err.message);
      this.deps.events.emit('agent.crashed', rec.id, {
        code: err.code,
        reason: err.message,
        messageId: message.id,
      });
      const attempts = (message.attempts ?? 0) + 1;
      const final = deterministic(err);
      if (!final && attempts < this.deps.attempts && rec.state !== 'terminated') {
        // At least once: the message stays at the head of the mailbox and is delivered again.
        message.attempts = attempts;
        this.deps.mailboxes.update(agent.id, message);
        agent.retryAt = at + this.deps.backoffMs * 2 ** (attempts - 1);
        this.deps.persist(agent);
        return;
      }
      const why = final ? `${final}; not retried` : err.message;
      this.deps.deadLetters.add(agent.id, message, { code: err.code, reason: why, attempts, at });
      this.deps.journal.append(rec.id, {
        t: 'lifecycle',
        at,
        op: 'dead-letter',
        detail: `message ${message.id}`,
      });
      this.deps.events.emit('message.dead-lettered', rec.id, {
        messageId: message.id,
        code: err.code,
        attempts,
      });
      const after = final
        ? `dead-lettered at once: ${final}`
        : `dead-lettered after ${attempts} attempt${attempts === 1 ? '' : 's'}`;
      err = new AgentOSError(err.code, `${err.message}; ${after}`, {
        ...err.details,
        deadLettered: true,
        attempts,
      });
    }
    this.finish(agent, message);
    const tag = result === 'error' ? String(err.details.tag) : 'unavailable';
    const val = result === 'error' ? String(err.details.reason) : err.message;
    this.deps.reply(agent.id, message, { error: { tag, val } });
    const failure = err;
    this.tell(agent, message, (w) => w.reject(failure));
  }

  /** Answers whoever waits for `message` (an outside caller once its unit is on disk). */
  private tell(agent: AgentRuntime, message: StoredMessage, how: (w: Waiter) => void): void {
    this.deps.commits.answered(agent.takeWaiter(message.id), how);
  }

  /** Acks the message and saves the record. */
  private finish(agent: AgentRuntime, message: StoredMessage): void {
    // The head, except for a batch message blamed for its worker's end while those before it
    // go again.
    if (agent.queue.remove(message) && agent.inFlight > 0) agent.inFlight--;
    this.deps.mailboxes.ack(agent.id, message);
    this.deps.outside.forget(agent.id, message.id);
    agent.record.updatedAt = this.deps.now();
    this.deps.persist(agent);
  }
}

/** The error for an instance that did not start: init returned an error, or it crashed. */
export function startError(id: string, r: TaskResult): AgentOSError {
  if (r.kind === 'error') {
    return new AgentOSError('AOS_E_INIT_FAILED', `${id}: init returned ${r.error.tag}: ${r.error.val}`, {
      tag: r.error.tag,
    });
  }
  if (r.kind === 'crash' && r.code)
    return new AgentOSError(r.code, `${id} starting: ${r.message}`, r.details ?? {});
  return new AgentOSError(
    'AOS_E_AGENT_CRASHED',
    `${id} crashed starting: ${r.kind === 'crash' ? r.message : r.kind}`,
    r.kind === 'crash' ? (r.details ?? {}) : {},
  );
}
