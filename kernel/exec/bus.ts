/**
 * The message bus: every message into an agent's mailbox passes here, from the embedder
 * (`kernel.send`) or from another agent (the `ipc` capability). It checks the receiver (alive,
 * the right world, room in its mailbox) and the message (kind, JSON, size), stores it durably,
 * queues it by priority (FIFO within one priority) and wakes the scheduler.
 *
 * @example
 * const m = bus.deliver('echo-1a2b3c', 'planner-9f8e7d', { kind: 'task', body: '{"n":1}' });
 * const value = await bus.outcome('echo-1a2b3c', m.id, 5000); // the handler's result
 */
import type { Logger } from 'pino';
import type { AgentRuntime } from '../agents/agent.js';
import type { Agents } from '../agents/agents.js';
import type { Timers } from '../base/clock.js';
import { AgentOSError } from '../base/errors.js';
import { checkBodySize, checkKind, TOOL_KINDS } from '../base/validate.js';
import type { Addressee, CallTxn, Envelope, Mailer, Urgency } from '../sdk/services.js';
import type { EventHub } from '../store/events.js';
import type { Mailboxes, NewMessage } from '../store/mailbox.js';
import type { StoredMessage } from '../store/message.js';

export type { Envelope, Urgency };

export interface BusDeps {
  events: EventHub;
  logger: Logger;
  agents: Agents;
  mailboxes: Mailboxes;
  wake: (agent: AgentRuntime) => void;
  /** Runs `f`, which may wake many agents, and dispatches once after it. */
  coalesce: (f: () => void) => void;
  maxMessageBytes: number;
  now: () => number;
  /** Timers on the kernel clock (a call's timeout). */
  timers: Timers;
}

export class Bus implements Mailer {
  constructor(private readonly deps: BusDeps) {}

  /**
   * Stores and queues a message for `to`. `sender` is an agent id, or null for the embedder.
   * @throws AgentOSError AOS_E_AGENT_NOT_FOUND, AOS_E_AGENT_TERMINATED, AOS_E_WRONG_WORLD,
   *   AOS_E_BAD_MESSAGE, AOS_E_MESSAGE_TOO_LARGE, AOS_E_QUOTA_EXCEEDED
   */
  deliver(
    to: string,
    sender: string | null,
    e: Envelope,
    /** `moved`: a message another kernel took (an import): no room check, it was given room there. */
    options: { quiet?: boolean; moved?: boolean } = {},
  ): StoredMessage {
    const agent = this.deps.agents.get(to);
    agent.assertLive();
    this.check(agent, e);
    if (!options.moved) this.room(agent, sender, options.quiet === true);
    return this.enqueue(agent, this.deps.mailboxes.append(to, this.fields(sender, e)));
  }

  /**
   * Queues a message exactly as it was recorded (its id, sender and time), for a replay's
   * isolated kernel: nothing is checked or stored.
   */
  deliverStored(to: string, message: StoredMessage): void {
    this.enqueue(this.deps.agents.get(to), message);
  }

  /** Refuses a message for a full mailbox (queued messages and places promised count). */
  private room(agent: AgentRuntime, sender: string | null, quiet: boolean): void {
    const cap = agent.record.limits.mailbox;
    if (agent.queue.length + agent.reserved < cap) return;
    const to = agent.id;
    const promised = agent.reserved > 0 ? ` and ${agent.reserved} places promised to senders` : '';
    const why = `${to}'s mailbox is full (${agent.queue.length} messages${promised}, its limit is ${cap}); retry later`;
    if (!quiet) this.deps.events.emit('quota.hit', to, { quota: 'mailbox', limit: cap, sender });
    throw new AgentOSError('AOS_E_QUOTA_EXCEEDED', why, { agent: to, quota: 'mailbox', limit: cap });
  }

  /**
   * A message an agent sends during a call: checked now (the receiver, the message, room in its
   * mailbox: a place is promised to it) and given its id, but delivered only when the call
   * commits (txn.ts), with the call's outcome; if the call crashes, the place goes back and the
   * message never existed. `then` runs after it is delivered (a request's timeout starts then).
   * @throws AgentOSError as `deliver`
   */
  stage(txn: CallTxn, to: string, sender: string, e: Envelope, then?: (m: StoredMessage) => void): number {
    const agent = this.deps.agents.get(to);
    agent.assertLive();
    this.check(agent, e);
    this.room(agent, sender, false);
    agent.reserved++;
    const id = this.deps.mailboxes.reserve(1);
    txn.onCommit(() => {
      const m = this.deliverStaged(to, sender, e, id);
      if (m) then?.(m);
    });
    txn.onAbort(() => this.unreserve(to, 1));
    return id;
  }

  /**
   * Delivers a message staged (or posted under a credit) when its sender's call commits. A
   * receiver that went away meanwhile misses it, as if it had gone right after the send.
   */
  deliverStaged(to: string, sender: string, e: Envelope, id: number): StoredMessage | null {
    try {
      return this.deliverReserved(to, sender, e, id);
    } catch (err) {
      const code = (err as AgentOSError).code;
      const fields = { agent: sender, to, id, err: (err as Error).message };
      if (code === 'AOS_E_AGENT_TERMINATED' || code === 'AOS_E_AGENT_NOT_FOUND')
        this.deps.logger.info(fields, 'a send was dropped: its receiver is gone');
      // Checked when it was sent: a refusal now is a kernel bug, never silent.
      else this.deps.logger.error(fields, 'a staged send was refused');
      return null;
    }
  }

  /**
   * Promises up to `n` places in `to`'s mailbox to a sender whose worker will answer its sends
   * itself (hostcalls/ipc/credits.ts), never more than half of the free room; returns how many
   * and the first of as many ids reserved for them, or null when there is no room (or `to`
   * takes no messages).
   */
  reserve(to: string, n: number): { count: number; first: number } | null {
    const agent = this.agent(to);
    if (agent?.record.world !== 'agent') return null;
    const free = agent.record.limits.mailbox - agent.queue.length - agent.reserved;
    const count = Math.min(n, Math.floor(free / 2));
    if (count < 1) return null;
    agent.reserved += count;
    return { count, first: this.deps.mailboxes.reserve(count) };
  }

  /** Gives back `count` places `reserve` promised to a sender that did not use them. */
  unreserve(to: string, count: number): void {
    const agent = this.deps.agents.peek(to);
    if (agent) agent.reserved = Math.max(0, agent.reserved - count);
  }

  /**
   * Stores a send made under a credit: its place was reserved and its id given when the credit
   * was granted, so the mailbox limit is not checked again.
   * @throws AgentOSError as `deliver`, but never AOS_E_QUOTA_EXCEEDED
   */
  deliverReserved(to: string, sender: string, e: Envelope, id: number): StoredMessage {
    const agent = this.deps.agents.get(to);
    agent.reserved = Math.max(0, agent.reserved - 1);
    agent.assertLive();
    this.check(agent, e);
    return this.enqueue(agent, this.deps.mailboxes.appendAs(to, id, this.fields(sender, e)));
  }

  private check(agent: AgentRuntime, e: Envelope): void {
    checkKind(e.kind);
    checkBodySize(e.body, this.deps.maxMessageBytes);
    if ((agent.record.world === 'skill') !== TOOL_KINDS.has(e.kind)) {
      throw new AgentOSError(
        'AOS_E_WRONG_WORLD',
        agent.record.world === 'skill'
          ? `${agent.id} is a skill: call its tools with invoke(), not messages of kind "${e.kind}"`
          : `${agent.id} is an agent: send it messages; only skills take tool calls`,
      );
    }
  }

  private fields(sender: string | null, e: Envelope): NewMessage {
    const m: NewMessage = { kind: e.kind, sender, body: e.body };
    if (e.priority !== undefined && e.priority !== 1) m.priority = e.priority;
    if (e.ttlMs) m.expiresAt = this.deps.now() + e.ttlMs;
    if (e.replyTo) {
      m.replyTo = e.replyTo;
      m.replyBy = e.replyBy ?? Number.MAX_SAFE_INTEGER;
    }
    return m;
  }

  private enqueue(agent: AgentRuntime, message: StoredMessage): StoredMessage {
    queueByPriority(agent, message);
    this.deps.wake(agent);
    return message;
  }

  /**
   * Runs `f`, which delivers many messages (a publish, a broadcast): the agents it wakes are
   * dispatched once, after it, instead of after each message.
   */
  hold(f: () => void): void {
    this.deps.coalesce(f);
  }

  /** The largest message body the bus takes, in bytes. */
  get maxMessageBytes(): number {
    return this.deps.maxMessageBytes;
  }

  /**
   * Sends a request's result back to its requester as `ipc.reply`, if the requester is still
   * there and its timeout has not passed (then it got `ipc.timeout` instead).
   */
  reply(from: string, m: StoredMessage, result: { value: unknown } | { error: unknown }): void {
    if (!m.replyTo || this.deps.now() >= (m.replyBy ?? 0) || !this.agent(m.replyTo)) return;
    try {
      this.deliver(m.replyTo, from, {
        kind: 'ipc.reply',
        body: JSON.stringify({ request: m.id, ...result }),
      });
    } catch (e) {
      this.deps.logger.warn(
        { agent: m.replyTo, request: m.id, err: (e as Error).message },
        'ipc.reply not delivered',
      );
    }
  }

  /** The live agents (not terminated). */
  agents(): AgentRuntime[] {
    return [...this.deps.agents.values()].filter((a) => a.record.state !== 'terminated');
  }

  exists(id: string): boolean {
    return this.agent(id) !== undefined;
  }

  queued(to: string, id: number): boolean {
    return this.agent(to)?.queue.some((m) => m.id === id) ?? false;
  }

  addressees(): Addressee[] {
    return this.agents().map((a) => ({ id: a.id, world: a.record.world }));
  }

  /** The live agent `id`, or undefined. */
  agent(id: string): AgentRuntime | undefined {
    const a = this.deps.agents.peek(id);
    return a && a.record.state !== 'terminated' ? a : undefined;
  }

  /**
   * The handler's result for message `id` of `to`, as soon as it returns (the caller is an agent,
   * whose own invocation commits after that one); AOS_E_TIMED_OUT after `timeoutMs` of the
   * kernel clock.
   */
  outcome(to: string, id: number, timeoutMs: number): Promise<unknown> {
    return this.deps.agents.get(to).outcome(id, { timeoutMs, timers: this.deps.timers, external: false });
  }
}

const urgency = (m: StoredMessage): number => m.priority ?? 1;

/**
 * Inserts `m` after every queued message of the same or a higher priority. The messages in
 * flight at the head stay put.
 */
export function queueByPriority(agent: AgentRuntime, m: StoredMessage): void {
  const q = agent.queue;
  let i = q.length;
  const floor = agent.inFlight;
  while (i > floor && urgency(q.at(i - 1)!) > urgency(m)) i--;
  if (i === q.length) q.push(m);
  else q.insert(i, m);
}
