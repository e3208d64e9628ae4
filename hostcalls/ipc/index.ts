/**
 * `agentos:kernel/ipc`: agents talk only through the kernel. Every message lands in the
 * receiver's durable mailbox (through the kernel's bus), is journaled with the hostcall that sent
 * it, and is delivered to `handle` by priority, FIFO within a priority.
 *
 * - `send` / `broadcast`: to one agent / to every agent the grant lets it reach;
 * - `publish` / `subscribe` / `unsubscribe`: named channels, filtered by kind and attributes;
 *   subscribers receive kind `ipc.publish` with `{channel, subscription, publication, kind,
 *   body, attributes}`;
 * - `request`: the handler's result comes back as kind `ipc.reply` (`{request, value}` or
 *   `{request, error}`), or `ipc.timeout` (`{request}`) once `timeout-ms` has passed;
 * - `call`: the same, blocking: the caller's CPU permit goes to others while it waits.
 *
 * Which agents and channels are reachable comes from the grant (rights.ts); a denial is an
 * `error` value (`denied`), counted in the sender's stats.
 *
 * A blocking `send` also grants the sender a credit for that receiver (credits.ts): its worker
 * answers the next sends to it itself (local.ts) and posts them; `posted.send` stores them.
 *
 * @example
 * // guest
 * import { call, send } from 'agentos:kernel/ipc@0.1.0';
 * const env = { kind: 'task', body: '{"n":1}', priority: 'normal', attributes: '{}', ttlMs: 0 };
 * send('worker-1a2b3c', env);
 * const answer = call('worker-1a2b3c', env, 5000); // JSON text of the worker's result
 */
import {
  type Addressee,
  AgentOSError,
  type CallContext,
  defineCapability,
  GuestError,
  type Services,
  WithNote,
  workerModule,
} from '../../kernel/sdk/index.js';
import { Channels, checkChannel, matches, parseFilter, type Subscription } from './channels.js';
import { Credits } from './credits.js';
import { checkEnvelope, toEnvelope, type WitEnvelope } from './envelope.js';
import { allows, type IpcRights, parseRights } from './rights.js';

/** Used when a request gives no timeout (0). */
export const DEFAULT_REQUEST_MS = 30_000;

interface IpcView {
  agent: string;
  rights: IpcRights;
  channels: Channels;
  credits: Credits;
}

type Need = 'clock' | 'timers' | 'logger' | 'storage' | 'mailer' | 'events';
type Ctx = CallContext<IpcView, Need>;

/** The kernel's refusals, as the guest sees them. */
function guestError(e: unknown): GuestError {
  if (e instanceof GuestError) return e;
  if (!(e instanceof AgentOSError)) return new GuestError('unavailable', String((e as Error)?.message ?? e));
  switch (e.code) {
    case 'AOS_E_AGENT_NOT_FOUND':
    case 'AOS_E_AGENT_TERMINATED':
      return new GuestError('not-found', e.message);
    case 'AOS_E_QUOTA_EXCEEDED':
    case 'AOS_E_MESSAGE_TOO_LARGE':
      return new GuestError('quota-exceeded', e.message);
    case 'AOS_E_BAD_MESSAGE':
    case 'AOS_E_WRONG_WORLD':
      return new GuestError('invalid', e.message);
    case 'AOS_E_TIMED_OUT':
      return new GuestError('timed-out', e.message);
    case 'AOS_E_AGENT_ERROR':
      return new GuestError(
        String(e.details.tag ?? 'unavailable') as 'invalid',
        String(e.details.reason ?? e.message),
      );
    default:
      return new GuestError('unavailable', e.message);
  }
}

function deny(ctx: Ctx, what: string): never {
  const limits = ctx.agent.stats.limits;
  limits['denied:ipc'] = (limits['denied:ipc'] ?? 0) + 1;
  ctx.services.logger.info({ agent: ctx.view.agent, denied: what }, 'ipc denied');
  ctx.services.events.emit('ipc.denied', ctx.view.agent, { what });
  throw new GuestError('denied', `${ctx.view.agent} may not ${what}`);
}

function checkSend(ctx: Ctx, to: string): void {
  if (!allows(ctx.view.rights.send, to)) deny(ctx, `send to ${to}`);
}

const timeoutOf = (ms: number): number => (ms > 0 ? ms : DEFAULT_REQUEST_MS);

/**
 * Sends `ipc.timeout` to the requester if the request is still waiting when its time is up (on
 * the kernel clock, from when the request was delivered).
 */
function armTimeout(services: Pick<Services, Need>, from: string, to: string, id: number, ms: number): void {
  services.timers.after(ms, () => {
    if (!services.mailer.queued(to, id) || !services.mailer.exists(from)) return;
    try {
      services.mailer.deliver(from, to, { kind: 'ipc.timeout', body: JSON.stringify({ request: id }) });
    } catch (e) {
      services.logger.warn(
        { agent: from, request: id, err: (e as Error).message },
        'ipc.timeout not delivered',
      );
    }
  });
}

/** A subscription staged by the call (or null: removed by it), by id. */
const SUBSCRIPTIONS = 'ipc-subscriptions';

const reachable = (ctx: Ctx): Addressee[] =>
  ctx.services.mailer
    .addressees()
    .filter((a) => a.id !== ctx.view.agent && a.world === 'agent' && allows(ctx.view.rights.send, a.id));

/** A posted send whose credit the kernel does not know (it would be a worker bug): staged anyway. */
function sendWithoutCredit(ctx: Ctx, to: string, message: WitEnvelope, id: number): void {
  ctx.services.logger.error({ agent: ctx.view.agent, to, id }, 'a posted send had no credit');
  const envelope = toEnvelope(message);
  ctx.txn.onCommit(() => {
    try {
      ctx.services.mailer.deliver(to, ctx.view.agent, envelope);
    } catch (e) {
      ctx.services.logger.error(
        { agent: ctx.view.agent, to, err: (e as Error).message },
        'a send was refused',
      );
    }
  });
}

export const ipc = defineCapability<IpcView, { channels: Channels | null; credits: Credits | null }, Need>({
  name: 'ipc',
  needs: ['clock', 'timers', 'logger', 'storage', 'mailer', 'events'],
  worker: workerModule(import.meta.url, './local.js'),
  init: () => ({ channels: null, credits: null }),
  drop: (agent, shared) => {
    shared.channels?.drop(agent);
    shared.credits?.release(agent);
  },
  configure: (agent, grant, shared, services) => {
    shared.channels ??= new Channels(services.storage);
    shared.credits ??= new Credits(services.mailer);
    return {
      agent: agent.id,
      rights: parseRights(grant.scope, agent.id),
      channels: shared.channels,
      credits: shared.credits,
    };
  },
  functions: {
    send: (ctx: Ctx, to: string, message: WitEnvelope) => {
      // The worker asks only without a credit for `to`: any credit it had ends here.
      const ended = ctx.view.credits.end(ctx.view.agent, to);
      checkSend(ctx, to);
      const { envelope } = checkEnvelope(message);
      let id: bigint;
      try {
        id = BigInt(ctx.services.mailer.stage(ctx.txn, to, ctx.view.agent, envelope));
      } catch (e) {
        throw guestError(e);
      }
      // Under a rate limit every send is counted by the dispatcher: no credit then.
      if (ctx.agent.limits.hostcallsPerSecond.ipc !== undefined) return id;
      const credit = ctx.view.credits.grant(ctx.view.agent, to, ended);
      return credit ? new WithNote(id, credit) : id;
    },
    broadcast: (ctx: Ctx, message: WitEnvelope) => {
      if (!ctx.view.rights.broadcast) deny(ctx, 'broadcast');
      const { envelope } = checkEnvelope(message);
      let n = 0;
      for (const a of reachable(ctx)) {
        try {
          ctx.services.mailer.stage(ctx.txn, a.id, ctx.view.agent, envelope);
          n++;
        } catch {
          // A full or closing mailbox misses this one; the count says how many got it.
        }
      }
      return n;
    },
    publish: (ctx: Ctx, channel: string, message: WitEnvelope) => {
      checkChannel(channel);
      if (!allows(ctx.view.rights.publish, channel)) deny(ctx, `publish on ${channel}`);
      const { envelope, attributes } = checkEnvelope(message);
      const channels = ctx.view.channels;
      const publication = ++channels.publications;
      const body = JSON.parse(envelope.body) as unknown;
      const from = ctx.view.agent;
      const { mailer: bus, logger } = ctx.services;
      // Delivered to the subscriptions there are when the call commits; each receiver is
      // dispatched once all have their copy.
      ctx.txn.onCommit(() =>
        bus.hold(() => {
          for (const s of channels.on(channel)) {
            if (!matches(s.filter, envelope.kind, attributes)) continue;
            if (!bus.exists(s.agent)) {
              channels.remove(s.id); // the subscriber is gone
              continue;
            }
            const copy = JSON.stringify({
              channel,
              subscription: s.id,
              publication,
              kind: envelope.kind,
              body,
              attributes,
            });
            try {
              bus.deliver(s.agent, from, { ...envelope, kind: 'ipc.publish', body: copy });
            } catch (e) {
              logger.warn(
                { channel, subscriber: s.agent, err: (e as Error).message },
                'publish missed a subscriber',
              );
            }
          }
        }),
      );
      return BigInt(publication);
    },
    subscribe: (ctx: Ctx, channel: string, filter: string) => {
      checkChannel(channel);
      if (!allows(ctx.view.rights.subscribe, channel)) deny(ctx, `subscribe to ${channel}`);
      const channels = ctx.view.channels;
      const s = channels.draft(ctx.view.agent, channel, parseFilter(filter));
      ctx.txn.overlay<number, Subscription | null>(SUBSCRIPTIONS).set(s.id, s);
      ctx.txn.onCommit(() => channels.add(s));
      return BigInt(s.id);
    },
    unsubscribe: (ctx: Ctx, subscription: bigint) => {
      const id = Number(subscription);
      const channels = ctx.view.channels;
      const staged = ctx.txn.staged<number, Subscription | null>(SUBSCRIPTIONS, id);
      const s = staged ? staged.value : channels.get(id);
      if (s?.agent !== ctx.view.agent)
        throw new GuestError('not-found', `no subscription ${subscription} of yours`);
      ctx.txn.overlay<number, Subscription | null>(SUBSCRIPTIONS).set(id, null);
      ctx.txn.onCommit(() => channels.remove(id));
    },
    request: (ctx: Ctx, to: string, message: WitEnvelope, timeoutMs: number) => {
      checkSend(ctx, to);
      const { envelope } = checkEnvelope(message);
      const ms = timeoutOf(timeoutMs);
      const replyBy = Number(ctx.services.clock.now()) + ms;
      const from = ctx.view.agent;
      try {
        const request = { ...envelope, replyTo: from, replyBy };
        const id = ctx.services.mailer.stage(ctx.txn, to, from, request, (m) =>
          armTimeout(ctx.services, from, to, m.id, ms),
        );
        return BigInt(id);
      } catch (e) {
        throw guestError(e);
      }
    },
    call: (ctx: Ctx, to: string, message: WitEnvelope, timeoutMs: number) => {
      checkSend(ctx, to);
      if (to === ctx.view.agent)
        throw new GuestError('invalid', 'an agent cannot call itself: it would wait on itself');
      const { envelope } = checkEnvelope(message);
      let id: number;
      try {
        // Delivered at once, not at commit: the caller waits for the answer inside its call.
        id = ctx.services.mailer.deliver(to, ctx.view.agent, envelope).id;
      } catch (e) {
        throw guestError(e);
      }
      return ctx.services.mailer.outcome(to, id, timeoutOf(timeoutMs)).then(
        (value) => JSON.stringify(value ?? null),
        (e: unknown) => {
          throw guestError(e);
        },
      );
    },
  },
  posted: {
    send: (ctx: Ctx, result: unknown, to: string, message: WitEnvelope) => {
      const id = Number(result as bigint);
      const bus = ctx.services.mailer;
      const from = ctx.view.agent;
      if (!ctx.view.credits.use(from, to, id)) return sendWithoutCredit(ctx, to, message, id);
      // Its place was promised with the credit: delivered when the call commits, given back if
      // it crashes.
      const envelope = toEnvelope(message);
      ctx.txn.onCommit(() => void bus.deliverStaged(to, from, envelope, id));
      ctx.txn.onAbort(() => bus.unreserve(to, 1));
    },
  },
  commandEnded: (ctx: Ctx) => ctx.view.credits.release(ctx.view.agent),
});
