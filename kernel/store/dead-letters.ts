/**
 * The dead-letter queue: messages whose handler failed on every delivery attempt, kept in LMDB
 * under `[agent, messageId]` with why they failed, until the embedder requeues or purges them.
 *
 * @example
 * const deadLetters = new DeadLetters(store);
 * deadLetters.add('echo-1a2b3c', message, { code: 'AOS_E_AGENT_CRASHED', reason: 'trap', attempts: 3, at: now });
 * deadLetters.list('echo-1a2b3c');
 */
import type { Database } from 'lmdb';
import { AgentOSError } from '../base/errors.js';
import { decodeValue, encodeToBytes } from '../bridge/codec.js';
import type { StoredMessage } from './message.js';
import type { Store } from './store.js';

export interface DeadLetter {
  agent: string;
  message: StoredMessage;
  /** The error code of the last failure, and its message. */
  code: string;
  reason: string;
  attempts: number;
  /** Kernel-clock ms when it was dead-lettered. */
  at: number;
}

/** Where a requeued message goes (the kernel's bus). */
export interface Redelivery {
  deliver(
    to: string,
    sender: string | null,
    e: { kind: string; body: string; priority?: 0 | 1 | 2 },
  ): StoredMessage;
}

export class DeadLetters {
  private readonly db: Database<Uint8Array, [string, number]>;

  constructor(private readonly store: Store) {
    this.db = store.db('dead-letters', { encoding: 'binary' }) as unknown as Database<
      Uint8Array,
      [string, number]
    >;
  }

  add(agent: string, message: StoredMessage, why: Omit<DeadLetter, 'agent' | 'message'>): void {
    const letter: DeadLetter = { agent, message, ...why };
    this.store.batch.put(this.db, [agent, message.id], encodeToBytes(letter));
  }

  /** Every dead letter (of `agent`, if given), oldest message first. Waits for nothing. */
  list(agent?: string): DeadLetter[] {
    const range = agent === undefined ? {} : { start: [agent, 0], end: [agent, Number.MAX_SAFE_INTEGER] };
    const out: DeadLetter[] = [];
    for (const { value } of this.db.getRange(range as { start?: [string, number] }))
      out.push(decodeValue(value) as DeadLetter);
    return out;
  }

  get(agent: string, id: number): DeadLetter | undefined {
    const v = this.db.get([agent, id]);
    return v ? (decodeValue(v) as DeadLetter) : undefined;
  }

  remove(agent: string, id: number): void {
    this.store.batch.remove(this.db, [agent, id]);
  }

  /**
   * Delivers dead letter `id` of `agent` again through `bus`, as a new message, and drops it
   * from here. @throws AgentOSError AOS_E_DEAD_LETTER_NOT_FOUND, or the bus's refusals
   */
  requeue(agent: string, id: number, bus: Redelivery): StoredMessage {
    const letter = this.get(agent, id);
    if (!letter) {
      throw new AgentOSError('AOS_E_DEAD_LETTER_NOT_FOUND', `no dead letter ${id} of ${agent}`, {
        agent,
        messageId: id,
      });
    }
    const m = letter.message;
    const again = bus.deliver(agent, m.sender, {
      kind: m.kind,
      body: m.body,
      ...(m.priority === undefined ? {} : { priority: m.priority }),
    });
    this.remove(agent, id);
    return again;
  }

  /** Deletes all dead letters, those of `agent`, or just `ids` of it; returns how many. */
  purge(agent?: string, ids?: number[]): number {
    const letters = this.list(agent).filter((l) => !ids || ids.includes(l.message.id));
    for (const l of letters) this.remove(l.agent, l.message.id);
    return letters.length;
  }
}
