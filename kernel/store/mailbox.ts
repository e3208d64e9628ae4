/**
 * Durable per-agent mailboxes in LMDB, in the order messages arrived. A message stays until it
 * is acknowledged (its handler returned, or it was rejected for good), so a kernel restart finds
 * every unhandled message where it was.
 *
 * Ids and places come from one counter. A message's place (its key) is normally its id; a send
 * the worker answered under a credit carries an id reserved when the credit was granted, and
 * gets its place when the kernel applies it, so the mailbox keeps arrival order.
 *
 * @example
 * const box = new Mailboxes(store, Date.now);
 * const m = box.append('echo-1a2b3c', { kind: 'text', sender: null, body: '{}' });
 * box.ack('echo-1a2b3c', m);
 */
import type { Database } from 'lmdb';
import { decodeValue, encodeToBytes } from '../bridge/codec.js';
import { mailboxSeq, type StoredMessage } from './message.js';
import type { Store } from './store.js';
import type { PendingPut } from './write-batch.js';

/** A message as the bus hands it over: without its id, place and time yet. */
export type NewMessage = Omit<StoredMessage, 'id' | 'sentAt' | 'seq'>;

/** The stored message: one literal and plain assignments (a spread costs more per message). */
function stamp(m: NewMessage, id: number, seq: number | undefined, sentAt: number): StoredMessage {
  const out: StoredMessage = { id, kind: m.kind, sender: m.sender, body: m.body, sentAt };
  if (seq !== undefined) out.seq = seq;
  if (m.priority !== undefined) out.priority = m.priority;
  if (m.expiresAt !== undefined) out.expiresAt = m.expiresAt;
  if (m.replyTo !== undefined) {
    out.replyTo = m.replyTo;
    if (m.replyBy !== undefined) out.replyBy = m.replyBy;
  }
  if (m.attempts !== undefined) out.attempts = m.attempts;
  return out;
}

/** Message ids are reserved from the database in blocks, so most sends write no counter. */
const ID_BLOCK = 1024;

export class Mailboxes {
  private readonly db: Database<Uint8Array, [string, number]>;
  private readonly meta: Database<number, string>;
  private nextId: number;
  /** Ids below this are reserved (persisted); a restart resumes from here, so ids never repeat. */
  private reservedUntil: number;
  /** Ids read back from LMDB: in memory mode these still leave LMDB when handled. */
  private readonly loaded = new Set<number>();
  /**
   * The last put of each message not acknowledged yet, by place, and whether its place was never
   * written to LMDB (`fresh`): a message acknowledged or dropped while its only put is still
   * queued withdraws that put instead of writing a removal (see WriteBatch.putWithdrawable).
   * Once any put of a place was flushed, taking the message out must remove it for real.
   */
  private readonly unflushed = new Map<number, { put: PendingPut; fresh: boolean }>();

  /**
   * @param durable false keeps messages in memory only (`Kernel.open({ mailboxes: 'memory' })`):
   *   faster, and a crash or restart loses whatever was queued. Ids still never repeat.
   */
  constructor(
    private readonly store: Store,
    private readonly now: () => number,
    private readonly durable = true,
  ) {
    this.db = store.db('mailbox', { encoding: 'binary' }) as unknown as Database<
      Uint8Array,
      [string, number]
    >;
    this.meta = store.db('meta') as unknown as Database<number, string>;
    // Past every id stored too: a home salvaged without its counter must not hand out an id a
    // queued or dead-lettered message already has.
    this.nextId = Math.max(this.meta.get('nextMessageId') ?? 1, this.lastStored(store) + 1);
    this.reservedUntil = this.nextId;
  }

  /** The largest message id or place in a mailbox or the dead-letter queue, or 0. */
  private lastStored(store: Store): number {
    let last = 0;
    for (const db of [this.db, store.db('dead-letters', { encoding: 'binary' })])
      for (const key of db.getKeys({})) last = Math.max(last, (key as [string, number])[1] ?? 0);
    return last;
  }

  /** Stores a message at the tail of `agent`'s mailbox and returns it with its id. */
  append(agent: string, m: NewMessage): StoredMessage {
    return this.put(agent, stamp(m, this.take(1), undefined, this.now()));
  }

  /** Reserves `n` ids for messages to be appended later with `appendAs`; returns the first. */
  reserve(n: number): number {
    return this.take(n);
  }

  /** Stores a message under an id from `reserve`, at the tail of `agent`'s mailbox. */
  appendAs(agent: string, id: number, m: NewMessage): StoredMessage {
    return this.put(agent, stamp(m, id, this.take(1), this.now()));
  }

  private take(n: number): number {
    const first = this.nextId;
    this.nextId += n;
    if (this.nextId > this.reservedUntil) {
      this.reservedUntil = this.nextId + ID_BLOCK;
      void this.meta.put('nextMessageId', this.reservedUntil);
    }
    return first;
  }

  private put(agent: string, stored: StoredMessage): StoredMessage {
    if (this.durable) this.write(agent, stored, true);
    return stored;
  }

  /** Queues a put of `m`; `fresh`: its place has never been written (a new message). */
  private write(agent: string, m: StoredMessage, fresh: boolean): void {
    const seq = mailboxSeq(m);
    const before = this.unflushed.get(seq);
    // Replacing a put still queued keeps the place fresh only if that put was the first one.
    const stillFresh = fresh || (before?.put.withdraw() === true && before.fresh);
    const put = this.store.batch.putWithdrawable(this.db, [agent, seq], () => encodeToBytes(m));
    this.unflushed.set(seq, { put, fresh: stillFresh });
  }

  /** Takes the message out: withdraws its put if its place was never written, or removes it. */
  private remove(agent: string, m: StoredMessage): void {
    const seq = mailboxSeq(m);
    const last = this.unflushed.get(seq);
    this.unflushed.delete(seq);
    if (last?.fresh && last.put.withdraw()) return;
    this.store.batch.remove(this.db, [agent, seq]);
  }

  /** Rewrites a message still in the mailbox (its delivery attempts changed). */
  update(agent: string, m: StoredMessage): void {
    if (this.durable || this.loaded.has(m.id)) this.write(agent, m, false);
  }

  /** Removes a handled message. */
  ack(agent: string, m: StoredMessage): void {
    if (this.loaded.delete(m.id) || this.durable) this.remove(agent, m);
  }

  /** Pending messages of `agent`, oldest first. */
  pending(agent: string): StoredMessage[] {
    const out: StoredMessage[] = [];
    for (const { value } of this.db.getRange({ start: [agent, 0], end: [agent, Number.MAX_SAFE_INTEGER] })) {
      const m = decodeValue(value) as StoredMessage;
      this.loaded.add(m.id);
      out.push(m);
    }
    return out;
  }

  /** Drops the given messages of `agent` (the kernel's in-memory queue mirrors the mailbox). */
  drop(agent: string, messages: readonly StoredMessage[]): void {
    for (const m of messages) if (this.loaded.delete(m.id) || this.durable) this.remove(agent, m);
  }
}
