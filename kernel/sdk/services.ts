/**
 * The services the kernel lends capabilities, each a narrow view of one of its parts. A
 * capability names the ones it needs (`needs: ['mailer', 'logger']`) and is handed only those:
 * asking for another is a type error, and reading one not asked for throws.
 *
 * @example
 * export const stamp = defineCapability({
 *   name: 'stamp',
 *   needs: ['clock'],
 *   configure: () => ({}),
 *   functions: { now: (ctx) => ctx.services.clock.now() },
 * });
 */
import type { Database } from 'lmdb';
import type { Logger } from 'pino';
import type { Clock, Timers } from '../base/clock.js';
import type { KernelEvent } from '../store/events.js';
import type { StoredMessage } from '../store/message.js';
import type { WriteBatch } from '../store/write-batch.js';

/**
 * The transaction of the call being served: a function that changes state stages the change
 * (`onCommit`, with `onAbort` to give back what it reserved) and reads the call's own staged
 * writes (`overlay`, `staged`), so the change lands with the call's outcome or not at all.
 */
export interface CallTxn {
  onCommit(f: () => void): void;
  onAbort(f: () => void): void;
  /** This call's staged writes under `name` (one map per capability), created on first use. */
  overlay<K, V>(name: string): Map<K, V>;
  /** The value staged for `key` under `name` by this call or an earlier one of its batch. */
  staged<K, V>(name: string, key: K): { value: V } | undefined;
  /** Everything staged under `name`, oldest first. */
  allStaged<K, V>(name: string): [K, V][];
}

/** 0 high, 1 normal (default), 2 low. */
export type Urgency = 0 | 1 | 2;

/** A message as the mailer takes it: the body is JSON text. */
export interface Envelope {
  kind: string;
  body: string;
  priority?: Urgency;
  /** Milliseconds until the message expires undelivered; 0 or absent: never. */
  ttlMs?: number;
  /** A request: the handler's result goes back to this agent as `ipc.reply`, until `replyBy`. */
  replyTo?: string;
  replyBy?: number;
}

/** A live agent as the mailer lists it. */
export interface Addressee {
  readonly id: string;
  readonly world: 'agent' | 'skill';
}

/** Messages into agents' mailboxes. */
export interface Mailer {
  /** The largest message body taken, in bytes. */
  readonly maxMessageBytes: number;
  /** Whether `id` is a live (not terminated) agent. */
  exists(id: string): boolean;
  /** Whether message `id` still waits in `to`'s mailbox (not handled, not dropped). */
  queued(to: string, id: number): boolean;
  /** The live agents. */
  addressees(): Addressee[];
  /**
   * Stores and queues a message now. `sender` is an agent id, or null for the kernel.
   * @throws AgentOSError AOS_E_AGENT_NOT_FOUND, AOS_E_AGENT_TERMINATED, AOS_E_WRONG_WORLD,
   *   AOS_E_BAD_MESSAGE, AOS_E_MESSAGE_TOO_LARGE, AOS_E_QUOTA_EXCEEDED
   */
  deliver(to: string, sender: string | null, e: Envelope, options?: { quiet?: boolean }): StoredMessage;
  /**
   * A message sent during a call: checked now and given its id, delivered when the call
   * commits (`then` runs after), never if it crashes.
   * @throws AgentOSError as `deliver`
   */
  stage(txn: CallTxn, to: string, sender: string, e: Envelope, then?: (m: StoredMessage) => void): number;
  /** Delivers a message whose place was reserved; a receiver gone meanwhile misses it (null). */
  deliverStaged(to: string, sender: string, e: Envelope, id: number): StoredMessage | null;
  /** Promises up to `n` places in `to`'s mailbox: how many, and the first of as many ids. */
  reserve(to: string, n: number): { count: number; first: number } | null;
  /** Gives back `count` places `reserve` promised. */
  unreserve(to: string, count: number): void;
  /** Runs `f`, which delivers many messages: the agents it wakes are dispatched once, after it. */
  hold(f: () => void): void;
  /** The handler's result for message `id` of `to`; AOS_E_TIMED_OUT after `timeoutMs`. */
  outcome(to: string, id: number, timeoutMs: number): Promise<unknown>;
}

/** The kernel's events, for capabilities: raise one, follow them, read the recent ones. */
export interface EventView {
  emit(kind: string, agent: string | null, detail?: Record<string, unknown>): KernelEvent;
  listen(listener: (e: KernelEvent) => void): () => void;
  recent(after: number, limit: number, prefixes?: readonly string[]): KernelEvent[];
}

/**
 * The kernel's LMDB environment: a capability opens its own named databases and writes through
 * the kernel's write batch, so its writes commit in the same transactions as the kernel's.
 */
export interface Storage {
  db<V = unknown>(name: string, options?: { encoding?: 'msgpack' | 'binary' | 'string' }): Database<V>;
  readonly batch: WriteBatch;
}

/** Every service, by the name a capability asks for it. */
export interface Services {
  readonly clock: Clock;
  /** Timers on the kernel clock: every timeout a capability acts on uses them. */
  readonly timers: Timers;
  readonly logger: Logger;
  readonly storage: Storage;
  readonly mailer: Mailer;
  readonly events: EventView;
}

export type ServiceName = keyof Services;

export const SERVICE_NAMES: readonly ServiceName[] = [
  'clock',
  'timers',
  'logger',
  'storage',
  'mailer',
  'events',
];
