/**
 * The per-agent journal: append-only, sequence-numbered, in LMDB. It is recorded so that a
 * replay (to come) can answer from it: the spawn (component digest, grants, config, random
 * seed), each instance start, each invocation's input and outcome, and each hostcall's name,
 * encoded arguments and encoded result.
 *
 * @example
 * const j = new Journal(store);
 * j.append('echo-1a2b3c', { t: 'lifecycle', at: Date.now(), op: 'suspend' });
 * for (const e of j.read('echo-1a2b3c')) console.log(e.seq, e.t);
 */
import type { Database } from 'lmdb';
import type { Limits, Priority } from '../base/limits.js';
import { decodeValue, encodeToBytes } from '../bridge/codec.js';
import type { StoredMessage } from './message.js';
import type { Store } from './store.js';
import type { WriteBatch } from './write-batch.js';

export type JournalRecord =
  | {
      t: 'spawn';
      at: number;
      digest: string;
      world: string;
      grants: string[];
      config: string;
      seed: string;
      /** The agent's limits, priority and weight at spawn (absent in journals written before). */
      limits?: Limits;
      priority?: Priority;
      weight?: number;
      /** A fork: the agent it was forked from, and that agent's last journal entry then. */
      from?: { agent: string; seq: number };
    }
  | {
      t: 'instance';
      at: number;
      generation: number;
      reason: string;
      /** Its state was rebuilt (reason `recover`): from this entry, with this many invocations redone. */
      recovered?: { from: number; replayed: number };
    }
  | { t: 'invoke'; at: number; message: StoredMessage }
  | {
      t: 'hostcall';
      at: number;
      fn: string;
      /** The encoded argument list, exactly as the guest sent it. */
      args: Uint8Array;
      /** The encoded result, exactly as the guest received it. */
      result: Uint8Array;
      /** 0 ok, 1 guest error, 2 kernel fault. */
      status: number;
      /** Time the kernel spent serving it, in µs (0 for a posted call: the kernel only applied it). */
      us: number;
      /**
       * Set when the worker answered the call itself and the kernel applied it afterwards (a
       * posted call); absent when the kernel served it. Records stored before it existed lack it.
       */
      posted?: true;
    }
  | {
      t: 'outcome';
      at: number;
      messageId: number;
      result: 'ok' | 'error' | 'crash' | 'expired';
      /** The outcome JSON (ok), the error variant (error) or the crash message. */
      value: string;
      us: number;
      /** Fuel the call used: the same inputs use the same fuel, so a replay can check it. */
      fuel: number;
      /**
       * Set when something outside the guest's computation ended the call: its deadline (or the
       * watchdog), its worker thread dying, or the fuel window budget. It would not end the same
       * way again, so a replay skips it (the instance it ran on was discarded).
       */
      cut?: true;
    }
  | { t: 'lifecycle'; at: number; op: string; detail?: string }
  /** New limits, priority or weight (kernel.configure), from the next invocation on. */
  | { t: 'settings'; at: number; limits: Limits; priority: Priority; weight: number }
  /** From here on the agent runs component `digest` (kernel.upgrade), with `grants`. */
  | { t: 'upgrade'; at: number; digest: string; from: string; grants: string[]; version?: string };

export type JournalEntry = JournalRecord & { seq: number };

interface Group {
  first: number;
  records: JournalRecord[];
  /** About how many bytes the records encode to. */
  bytes: number;
}

/** A group is stored once it holds about this many bytes (records past it start a new one). */
export const GROUP_BYTES = 1 << 20;

/** About what a record encodes to: its payload (UTF-8 at most 3 bytes a character) and some. */
function approxBytes(r: JournalRecord): number {
  switch (r.t) {
    case 'hostcall':
      return 64 + r.args.length + r.result.length;
    case 'invoke':
      return 128 + 3 * r.message.body.length;
    case 'outcome':
      return 64 + 3 * r.value.length;
    default:
      return 256;
  }
}

/** The records one stored value holds: one record, or a group appended within one flush. */
function stored(value: Uint8Array): JournalRecord[] {
  const v = decodeValue(value) as JournalRecord | { t: 'group'; records: JournalRecord[] };
  return v.t === 'group' ? v.records : [v];
}

/** A journal entry with hostcall arguments and results decoded, for people and tools. */
export type ReadableEntry =
  | Exclude<JournalEntry, { t: 'hostcall' }>
  | (Omit<Extract<JournalEntry, { t: 'hostcall' }>, 'args' | 'result'> & {
      args: unknown[];
      result: unknown;
    });

/**
 * Records are stored in the hostcall value codec (binary), which keeps bigints, byte arrays and
 * `undefined` exactly and costs a fraction of a generic encoder on the hostcall path; they are
 * written through the store's write batch.
 *
 * Records an agent appends within one flush of the batch are stored together, as one LMDB value
 * under the first one's sequence number (`{t: 'group', records}`): a busy agent journals three or
 * more records per message, and one write each cost more than encoding them. They commit in one
 * transaction either way; readers see the same records with the same sequence numbers.
 */
export class Journal {
  private readonly db: Database<Uint8Array, [string, number]>;
  private readonly next = new Map<string, number>();
  private readonly batch: WriteBatch;
  /** Records not handed to the batch yet, by agent: the first one's sequence number, then all. */
  private pending = new Map<string, Group>();

  constructor(store: Store) {
    this.db = store.db('journal', { encoding: 'binary' }) as unknown as Database<
      Uint8Array,
      [string, number]
    >;
    this.batch = store.batch;
    this.batch.beforeFlush(() => this.write());
  }

  /** The sequence number the next append will get (loaded from the last key on first use). */
  peek(agent: string): number {
    let n = this.next.get(agent);
    if (n === undefined) {
      n = 0;
      for (const { key, value } of this.db.getRange({
        start: [agent, Number.MAX_SAFE_INTEGER],
        end: [agent],
        reverse: true,
        limit: 1,
      })) {
        n = key[1] + stored(value).length;
      }
      this.next.set(agent, n);
    }
    return n;
  }

  /** Sees each record as it is appended (a replay's isolated kernel reads its outcomes so). */
  tap: ((agent: string, record: JournalRecord) => void) | null = null;

  /** Appends one record; returns its sequence number. The write commits with the next batch. */
  append(agent: string, record: JournalRecord): number {
    this.tap?.(agent, record);
    const seq = this.peek(agent);
    this.next.set(agent, seq + 1);
    let group = this.pending.get(agent);
    if (!group) {
      group = { first: seq, records: [], bytes: 0 };
      this.pending.set(agent, group);
    }
    group.records.push(record);
    group.bytes += approxBytes(record);
    // A group stays small enough to encode and store at once; a large one goes out now.
    if (group.bytes >= GROUP_BYTES) {
      this.pending.delete(agent);
      this.put(agent, group);
    }
    this.batch.deferred();
    return seq;
  }

  /** Hands the pending records to the batch, one value per agent. */
  private write(): void {
    if (this.pending.size === 0) return;
    const pending = this.pending;
    this.pending = new Map();
    for (const [agent, group] of pending) {
      try {
        this.put(agent, group);
      } catch (e) {
        // Only past the codec's own limit: this agent's records are lost, not the others'.
        this.batch.onError(e, `journal records ${group.first}.. of ${agent}`);
      }
    }
  }

  private put(agent: string, { first, records }: Group): void {
    let bytes: Uint8Array;
    try {
      bytes = encodeToBytes(records.length === 1 ? records[0] : { t: 'group', records });
    } catch (e) {
      // A record that cannot be encoded (a kernel bug) must not take the others with it: it is
      // stored as a note of what went missing, so the sequence numbers stay whole.
      this.batch.onError(e, `journal records ${first}..${first + records.length - 1} of ${agent}`);
      const kept = records.map((r) => {
        try {
          encodeToBytes(r);
          return r;
        } catch (err) {
          const detail = `a ${r.t} record could not be stored: ${(err as Error).message}`;
          return { t: 'lifecycle', at: r.at, op: 'unrecorded', detail } as JournalRecord;
        }
      });
      bytes = encodeToBytes(kept.length === 1 ? kept[0] : { t: 'group', records: kept });
    }
    this.batch.put(this.db, [agent, first], bytes);
  }

  /** Raw entries from `from` (inclusive), in order. Call after `Store.flushed()`. */
  *entries(agent: string, from = 0, limit = Number.POSITIVE_INFINITY): Generator<JournalEntry> {
    let n = 0;
    // `from` may fall inside a group stored under an earlier sequence number.
    let start = from;
    for (const key of this.db.getKeys({ start: [agent, from], end: [agent, -1], reverse: true, limit: 1 }))
      start = (key as [string, number])[1];
    for (const { key, value } of this.db.getRange({
      start: [agent, start],
      end: [agent, Number.MAX_SAFE_INTEGER],
    })) {
      for (const [i, record] of stored(value).entries()) {
        const seq = key[1] + i;
        if (seq < from) continue;
        if (n++ >= limit) return;
        yield { ...record, seq } as JournalEntry;
      }
    }
  }

  /**
   * Drops the stored groups of `agent` whose every entry is at or before `through`, except the
   * first (its spawn record stays, so the journal still says what the agent is). Returns how
   * many entries went. Call after `Store.flushed()`: the groups not yet written are all later.
   */
  prune(agent: string, through: number): number {
    let removed = 0;
    const groups = this.prunable(agent, through);
    this.batch.atomic(() => {
      for (const { key, records } of groups) {
        this.batch.remove(this.db, key);
        removed += records.length;
      }
    });
    return removed;
  }

  /** The entries `prune(agent, through)` would drop, in order (an archive of them). */
  pruned(agent: string, through: number): JournalEntry[] {
    return this.prunable(agent, through).flatMap(({ key, records }) =>
      records.map((r, i) => ({ ...r, seq: key[1] + i }) as JournalEntry),
    );
  }

  private prunable(agent: string, through: number): { key: [string, number]; records: JournalRecord[] }[] {
    const out: { key: [string, number]; records: JournalRecord[] }[] = [];
    for (const { key, value } of this.db.getRange({ start: [agent, 1], end: [agent, through + 1] })) {
      const records = stored(value);
      if (key[1] + records.length - 1 > through) break; // the group runs past the cut
      out.push({ key, records });
    }
    return out;
  }

  /**
   * Stores `entries` (an imported agent's, by their own sequence numbers) for an agent that has
   * none here, each run of consecutive ones as groups; the next append gets `next`.
   */
  restore(agent: string, entries: readonly JournalEntry[], next: number): void {
    let group: Group | undefined;
    for (const { seq, ...record } of entries) {
      if (group && (seq !== group.first + group.records.length || group.bytes >= GROUP_BYTES)) {
        this.put(agent, group);
        group = undefined;
      }
      group ??= { first: seq, records: [], bytes: 0 };
      group.records.push(record as JournalRecord);
      group.bytes += approxBytes(record as JournalRecord);
    }
    if (group) this.put(agent, group);
    this.next.set(agent, next);
  }

  /** Bytes the stored entries of `agent` take (encoded; as of the last flush). */
  bytes(agent: string): number {
    let n = 0;
    for (const { value } of this.db.getRange({ start: [agent, -1], end: [agent, Number.MAX_SAFE_INTEGER] }))
      n += value.length;
    return n;
  }

  /** Drops every entry of `agent` (an import undone). Call after `Store.flushed()`. */
  remove(agent: string): void {
    this.pending.delete(agent);
    this.next.set(agent, 0);
    for (const key of [...this.db.getKeys({ start: [agent, -1], end: [agent, Number.MAX_SAFE_INTEGER] })])
      this.batch.remove(this.db, key as [string, number]);
  }

  /** Entries with hostcall payloads decoded. */
  *read(agent: string, from = 0, limit = Number.POSITIVE_INFINITY): Generator<ReadableEntry> {
    for (const e of this.entries(agent, from, limit)) {
      if (e.t === 'hostcall') {
        yield { ...e, args: decodeValue(e.args) as unknown[], result: decodeValue(e.result) };
      } else yield e;
    }
  }
}
