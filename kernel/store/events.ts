/**
 * The kernel's own events: agent spawned, suspended, resumed, crashed, terminated; message
 * dead-lettered; quota hit. Each gets a sequence number and is kept in LMDB (the last
 * `RETAIN`), so `recent(after)` can catch a reader up. Embedders read them as an async iterator;
 * agents granted `events` subscribe by kind prefix and receive them as messages of kind `event`.
 *
 * @example
 * for await (const e of kernel.events({ prefixes: ['agent.'] })) console.log(e.seq, e.kind, e.agent);
 */
import type { Database } from 'lmdb';
import type { Store } from './store.js';

export interface KernelEvent {
  seq: number;
  kind: string;
  agent: string | null;
  /** Kernel-clock ms. */
  at: number;
  detail: Record<string, unknown>;
}

/** Events kept for `recent`; older ones are dropped as new ones arrive. */
export const RETAIN = 10_000;

type Listener = (e: KernelEvent) => void;

export class EventHub {
  private readonly db: Database<KernelEvent, number>;
  private seq: number;
  private readonly listeners = new Set<Listener>();
  private closed = false;

  constructor(
    private readonly store: Store,
    private readonly now: () => number,
  ) {
    this.db = store.db('events') as unknown as Database<KernelEvent, number>;
    let last = 0;
    for (const key of this.db.getKeys({ reverse: true, limit: 1 })) last = key;
    this.seq = last;
  }

  /** Records an event and hands it to every listener. */
  emit(kind: string, agent: string | null, detail: Record<string, unknown> = {}): KernelEvent {
    const e: KernelEvent = { seq: ++this.seq, kind, agent, at: this.now(), detail };
    this.store.batch.put(this.db, e.seq, e);
    if (e.seq > RETAIN) this.store.batch.remove(this.db, e.seq - RETAIN);
    for (const l of [...this.listeners]) {
      try {
        l(e);
      } catch {
        // A listener's failure must not break whatever raised the event.
      }
    }
    return e;
  }

  /** Stored events after `after`, oldest first, at most `limit`. */
  recent(after: number, limit: number, prefixes: readonly string[] = []): KernelEvent[] {
    const out: KernelEvent[] = [];
    for (const { value } of this.db.getRange({ start: after + 1 })) {
      if (out.length >= limit) break;
      if (matches(value.kind, prefixes)) out.push(value);
    }
    return out;
  }

  listen(l: Listener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  /**
   * Events whose kind starts with one of `prefixes` (all when empty), from now on, as an async
   * iterator; it ends when the kernel closes or the reader stops (`break`).
   */
  iterate(prefixes: readonly string[] = []): AsyncIterableIterator<KernelEvent> {
    const queue: KernelEvent[] = [];
    let wake: (() => void) | null = null;
    let done = this.closed;
    const stop = this.listen((e) => {
      if (!matches(e.kind, prefixes)) return;
      queue.push(e);
      wake?.();
    });
    const ended = (): IteratorResult<KernelEvent> => ({ value: undefined, done: true });
    const end = (): void => {
      done = true;
      stop();
      wake?.();
    };
    this.enders.add(end);
    const it: AsyncIterableIterator<KernelEvent> = {
      next: async () => {
        while (queue.length === 0 && !done)
          await new Promise<void>((r) => {
            wake = r;
          });
        wake = null;
        const e = queue.shift();
        return e ? { value: e, done: false } : ended();
      },
      return: async () => {
        end();
        this.enders.delete(end);
        return ended();
      },
      [Symbol.asyncIterator]: () => it,
    };
    return it;
  }

  private readonly enders = new Set<() => void>();

  /** Ends every iterator (the kernel is closing). */
  close(): void {
    this.closed = true;
    for (const end of this.enders) end();
    this.enders.clear();
    this.listeners.clear();
  }
}

export const matches = (kind: string, prefixes: readonly string[]): boolean =>
  prefixes.length === 0 || prefixes.some((p) => kind.startsWith(p));
