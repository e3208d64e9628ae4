/**
 * `agentos:kernel/events`: the kernel's own events (agent.spawned, agent.crashed,
 * message.dead-lettered, quota.hit, ...) for agents granted `events`. `subscribe(prefixes)`
 * delivers matching events to `handle` as messages of kind `event` (body: the event as JSON);
 * `recent` reads the stored ones. A scoped grant (`events:agent.|quota.`) limits the prefixes an
 * agent may see.
 *
 * @example
 * // guest
 * import { subscribe } from 'agentos:kernel/events@0.1.0';
 * subscribe(['agent.crashed', 'message.dead-lettered']);
 */
import type { Database } from 'lmdb';
import {
  type CallContext,
  defineCapability,
  GuestError,
  type KernelEvent,
  matches,
  parsePrefixScope,
  type Services,
} from '../../kernel/sdk/index.js';

type Need = 'storage' | 'mailer' | 'events';

/** The name of this capability's overlay on a call's transaction (id → subscription, null: removed). */
const STAGED = 'events-subscriptions';

/** Most events one `recent` returns. */
export const MAX_RECENT = 1000;

interface Subscription {
  id: number;
  agent: string;
  prefixes: string[];
}

/** The subscriptions of one kernel, in LMDB, and the listener that fans events out to them. */
class Subscriptions {
  private readonly db: Database<Subscription, number>;
  readonly all = new Map<number, Subscription>();
  private nextId = 1;

  constructor(private readonly services: Pick<Services, Need>) {
    this.db = services.storage.db('event-subscriptions') as unknown as Database<Subscription, number>;
    for (const { value } of this.db.getRange({})) {
      this.all.set(value.id, value);
      this.nextId = Math.max(this.nextId, value.id + 1);
    }
    services.events.listen((e) => this.fanOut(e));
  }

  /** A new subscription with its id, not yet taken (`add` takes it, when its call commits). */
  draft(agent: string, prefixes: string[]): Subscription {
    return { id: this.nextId++, agent, prefixes };
  }

  add(s: Subscription): void {
    this.all.set(s.id, s);
    this.services.storage.batch.put(this.db, s.id, s);
  }

  remove(id: number): void {
    this.all.delete(id);
    this.services.storage.batch.remove(this.db, id);
  }

  /** Every subscription of `agent` goes (it was terminated). */
  drop(agent: string): void {
    for (const s of [...this.all.values()]) if (s.agent === agent) this.remove(s.id);
  }

  private fanOut(e: KernelEvent): void {
    for (const s of this.all.values()) {
      if (!matches(e.kind, s.prefixes)) continue;
      if (!this.services.mailer.exists(s.agent)) {
        this.remove(s.id); // the subscriber is gone
        continue;
      }
      try {
        // quiet: a full mailbox must not raise another event about itself.
        this.services.mailer.deliver(
          s.agent,
          null,
          { kind: 'event', body: JSON.stringify(e) },
          { quiet: true },
        );
      } catch {
        // A subscriber that cannot take it (full mailbox) misses it; `recent` still has it.
      }
    }
  }
}

interface EventsView {
  agent: string;
  /** Prefixes the grant allows; empty: all. */
  allowed: string[];
  subs: Subscriptions;
}

type Ctx = CallContext<EventsView, Need>;

const permitted = (view: EventsView, prefix: string): boolean =>
  view.allowed.length === 0 || view.allowed.some((a) => prefix.startsWith(a));

export const events = defineCapability<EventsView, { subs: Subscriptions | null }, Need>({
  name: 'events',
  needs: ['storage', 'mailer', 'events'],
  init: () => ({ subs: null }),
  drop: (agent, shared) => shared.subs?.drop(agent),
  configure: (agent, grant, shared, services) => {
    const allowed = parsePrefixScope(grant, agent.id);
    shared.subs ??= new Subscriptions(services);
    return { agent: agent.id, allowed, subs: shared.subs };
  },
  functions: {
    subscribe: (ctx: Ctx, prefixes: string[]) => {
      if (prefixes.some((p) => typeof p !== 'string' || p.length > 128))
        throw new GuestError('invalid', 'prefixes are strings of at most 128 characters');
      const wanted = prefixes.length === 0 ? [''] : prefixes;
      for (const p of wanted)
        if (!permitted(ctx.view, p))
          throw new GuestError('denied', `${ctx.view.agent} may not see events "${p}*"`);
      const subs = ctx.view.subs;
      const s = subs.draft(ctx.view.agent, prefixes);
      // Taken when the call commits: a call that crashes leaves no subscription behind.
      ctx.txn.overlay<number, Subscription | null>(STAGED).set(s.id, s);
      ctx.txn.onCommit(() => subs.add(s));
      return BigInt(s.id);
    },
    unsubscribe: (ctx: Ctx, subscription: bigint) => {
      const id = Number(subscription);
      const subs = ctx.view.subs;
      const staged = ctx.txn.staged<number, Subscription | null>(STAGED, id);
      const s = staged ? staged.value : subs.all.get(id);
      if (s?.agent !== ctx.view.agent)
        throw new GuestError('not-found', `no subscription ${subscription} of yours`);
      ctx.txn.overlay<number, Subscription | null>(STAGED).set(id, null);
      ctx.txn.onCommit(() => subs.remove(id));
    },
    recent: (ctx: Ctx, afterSeq: bigint, limit: number) => {
      const n = Math.min(limit, MAX_RECENT);
      return ctx.services.events.recent(Number(afterSeq), n, ctx.view.allowed).map((e) => ({
        seq: BigInt(e.seq),
        kind: e.kind,
        agent: e.agent ?? undefined,
        at: BigInt(e.at),
        detail: JSON.stringify(e.detail),
      }));
    },
  },
});
