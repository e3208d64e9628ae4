/**
 * Channel subscriptions, kept in LMDB (so they survive a restart) and indexed by channel in
 * memory. A filter selects by message kind and by attribute values:
 * `{"kind": ["alert", "notice"], "where": {"region": "eu"}}` (both optional).
 */
import type { Database } from 'lmdb';
import { GuestError, type Storage } from '../../kernel/sdk/index.js';
import { type Attributes, parseJson } from './envelope.js';

export interface Filter {
  kind?: string[];
  where?: Attributes;
}

export interface Subscription {
  id: number;
  agent: string;
  channel: string;
  filter: Filter;
}

export const MAX_CHANNEL = 128;

export function checkChannel(channel: string): void {
  if (channel === '' || channel.length > MAX_CHANNEL || /\s/.test(channel))
    throw new GuestError('invalid', `a channel name is 1..${MAX_CHANNEL} characters without spaces`);
}

export function parseFilter(text: string): Filter {
  const raw = text.trim() === '' ? {} : parseJson(text, 'the filter');
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new GuestError('invalid', 'the filter must be a JSON object');
  const f = raw as Record<string, unknown>;
  for (const k of Object.keys(f))
    if (k !== 'kind' && k !== 'where')
      throw new GuestError('invalid', `the filter has no field ${k} (kind, where)`);
  if (f.kind !== undefined && !(Array.isArray(f.kind) && f.kind.every((k) => typeof k === 'string')))
    throw new GuestError('invalid', 'filter.kind must be a list of strings');
  if (f.where !== undefined) {
    const w = f.where;
    if (typeof w !== 'object' || w === null || Array.isArray(w))
      throw new GuestError('invalid', 'filter.where must be an object');
    for (const v of Object.values(w))
      if (typeof v !== 'string' && typeof v !== 'number')
        throw new GuestError('invalid', 'filter.where values must be strings or numbers');
  }
  return f as Filter;
}

export const matches = (f: Filter, kind: string, attributes: Attributes): boolean =>
  (!f.kind || f.kind.includes(kind)) && Object.entries(f.where ?? {}).every(([k, v]) => attributes[k] === v);

export class Channels {
  private readonly db: Database<Subscription, number>;
  private readonly byChannel = new Map<string, Map<number, Subscription>>();
  private readonly byId = new Map<number, Subscription>();
  private nextId = 1;
  /** Publications so far; each publish gets the next number. */
  publications = 0;

  constructor(private readonly storage: Storage) {
    this.db = storage.db('ipc-subscriptions') as unknown as Database<Subscription, number>;
    for (const { value } of this.db.getRange({})) this.index(value);
  }

  private index(s: Subscription): void {
    this.byId.set(s.id, s);
    const subs = this.byChannel.get(s.channel) ?? new Map<number, Subscription>();
    this.byChannel.set(s.channel, subs);
    subs.set(s.id, s);
    this.nextId = Math.max(this.nextId, s.id + 1);
  }

  /** A new subscription with its id, not yet taken (`add` takes it, when its call commits). */
  draft(agent: string, channel: string, filter: Filter): Subscription {
    return { id: this.nextId++, agent, channel, filter };
  }

  /** Takes a subscription: indexed now, stored with the next write batch. */
  add(s: Subscription): Subscription {
    this.index(s);
    this.storage.batch.put(this.db, s.id, s);
    return s;
  }

  get(id: number): Subscription | undefined {
    return this.byId.get(id);
  }

  remove(id: number): void {
    const s = this.byId.get(id);
    if (!s) return;
    this.byId.delete(id);
    this.byChannel.get(s.channel)?.delete(id);
    this.storage.batch.remove(this.db, id);
  }

  /** Every subscription of `agent` goes (it was terminated). */
  drop(agent: string): void {
    for (const s of [...this.byId.values()]) if (s.agent === agent) this.remove(s.id);
  }

  on(channel: string): Subscription[] {
    return [...(this.byChannel.get(channel)?.values() ?? [])];
  }
}
