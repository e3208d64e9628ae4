/**
 * Durable per-agent mailboxes: FIFO by message id, in LMDB. A message stays until it is
 * acknowledged (its handler returned, or it was rejected for good), so a kernel restart finds
 * every unhandled message where it was.
 *
 * @example
 * const box = new Mailboxes(store);
 * const m = box.append('echo-1a2b3c', { kind: 'text', sender: null, body: '{}' });
 * box.ack('echo-1a2b3c', m.id);
 */
import type { Database } from 'lmdb';
import { decodeValue, encodeToBytes } from '../bridge/codec.js';
import type { StoredMessage } from './journal.js';
import type { Store } from './store.js';

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
    this.nextId = this.meta.get('nextMessageId') ?? 1;
    this.reservedUntil = this.nextId;
  }

  /** Stores a message at the tail of `agent`'s mailbox and returns it with its id. */
  append(agent: string, m: Omit<StoredMessage, 'id' | 'sentAt'>): StoredMessage {
    const id = this.nextId++;
    if (id >= this.reservedUntil) {
      this.reservedUntil = id + ID_BLOCK;
      void this.meta.put('nextMessageId', this.reservedUntil);
    }
    const stored: StoredMessage = { ...m, id, sentAt: this.now() };
    if (this.durable) this.store.batch.put(this.db, [agent, id], encodeToBytes(stored));
    return stored;
  }

  /** Rewrites a message still in the mailbox (its delivery attempts changed). */
  update(agent: string, m: StoredMessage): void {
    if (this.durable || this.loaded.has(m.id)) this.store.batch.put(this.db, [agent, m.id], encodeToBytes(m));
  }

  /** Removes a handled message. */
  ack(agent: string, id: number): void {
    if (this.durable || this.loaded.delete(id)) this.store.batch.remove(this.db, [agent, id]);
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
    for (const m of messages) this.store.batch.remove(this.db, [agent, m.id]);
  }
}
