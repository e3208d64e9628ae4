/**
 * A durable key-value namespace per agent (LMDB keys `[agent, key]`) with the transaction rules
 * every stateful capability needs: a write in a call is staged on the call's transaction (the
 * call reads it at once; it is stored with the call's outcome, or dropped if the call crashes);
 * once stored it sits in an overlay until its write batch commits, so an agent always reads its
 * own writes. Also the state hooks: drop an agent's keys, export, import and fork them.
 *
 * @example
 * const notes = new AgentStore<string>(services.storage, 'notes');   // in init
 * notes.write(ctx.txn, ctx.agent.id, 'k', 'v');                        // in a host function
 * notes.read(ctx.txn, ctx.agent.id, 'k');                              // 'v'
 */
import { Buffer } from 'node:buffer';
import type { Database } from 'lmdb';
import type { CallTxn, Storage } from './services.js';

type Key = [string, string];

/** Byte order of UTF-8, which is LMDB's key order. */
export function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

export class AgentStore<V> {
  private readonly db: Database<V, Key>;
  /** Writes stored in the batch but not committed yet: `agent\0key` → value (null: deleted). */
  private readonly pending = new Map<string, V | null>();

  /** `name`: the LMDB database, which is also the name of the staged writes on a transaction. */
  constructor(
    private readonly storage: Storage,
    private readonly name: string,
  ) {
    this.db = storage.db(name) as unknown as Database<V, Key>;
  }

  /** Stages `value` for `key` (null deletes it) on the call's transaction. */
  write(txn: CallTxn, agent: string, key: string, value: V | null): void {
    txn.overlay<string, V | null>(this.name).set(key, value);
    txn.onCommit(() => this.store(agent, key, value));
  }

  /** The call's own staged value, else the one stored (or committing). */
  read(txn: CallTxn | null, agent: string, key: string): V | undefined {
    const staged = txn?.staged<string, V | null>(this.name, key);
    if (staged) return staged.value ?? undefined;
    const id = `${agent}\0${key}`;
    if (this.pending.has(id)) return this.pending.get(id) ?? undefined;
    return this.db.get([agent, key]);
  }

  /** Up to `max` of the agent's keys that start with `prefix`, in UTF-8 order, the call's writes included. */
  list(txn: CallTxn | null, agent: string, prefix: string, max: number): string[] {
    const keys = new Set<string>();
    const staged = txn?.allStaged<string, V | null>(this.name) ?? [];
    // Walk from the prefix and stop at the first key without it (UTF-8 order: an upper bound
    // like prefix + '\uffff' would miss keys whose next character is above U+FFFF).
    for (const k of this.db.getKeys({ start: [agent, prefix] })) {
      const [owner, key] = k as Key;
      if (owner !== agent || !key.startsWith(prefix)) break;
      keys.add(key);
      if (keys.size > max + this.pending.size + staged.length) break;
    }
    const apply = (key: string, value: V | null): void => {
      if (!key.startsWith(prefix)) return;
      if (value === null) keys.delete(key);
      else keys.add(key);
    };
    const head = `${agent}\0`;
    for (const [id, value] of this.pending) if (id.startsWith(head)) apply(id.slice(head.length), value);
    for (const [key, value] of staged) apply(key, value);
    return [...keys].sort(compareUtf8).slice(0, max);
  }

  /** Every key and value of the agent, committing writes included, in UTF-8 order of keys. */
  entries(agent: string): [string, V][] {
    const out = new Map<string, V>();
    for (const { key, value } of this.db.getRange({ start: [agent, ''] })) {
      const [owner, k] = key as Key;
      if (owner !== agent) break;
      out.set(k, value);
    }
    const head = `${agent}\0`;
    for (const [id, value] of this.pending) {
      if (!id.startsWith(head)) continue;
      if (value === null) out.delete(id.slice(head.length));
      else out.set(id.slice(head.length), value);
    }
    return [...out].sort((a, b) => compareUtf8(a[0], b[0]));
  }

  /** Removes every key of the agent (in the write batch). */
  drop(agent: string): void {
    for (const [key] of this.entries(agent)) this.store(agent, key, null);
  }

  /** Writes `entries` for the agent (in the write batch). */
  putAll(agent: string, entries: Iterable<[string, V]>): void {
    for (const [key, value] of entries) this.store(agent, key, value);
  }

  /** Forgets the writes still committing (the kernel is closing). */
  clear(): void {
    this.pending.clear();
  }

  /** Puts one write in the batch; it is visible in the overlay until the batch commits. */
  private store(agent: string, key: string, value: V | null): void {
    const id = `${agent}\0${key}`;
    const { batch } = this.storage;
    this.pending.set(id, value);
    if (value === null) batch.remove(this.db, [agent, key]);
    else batch.put(this.db, [agent, key], value);
    batch.afterCommit(() => {
      if (this.pending.get(id) === value) this.pending.delete(id);
    });
  }
}
