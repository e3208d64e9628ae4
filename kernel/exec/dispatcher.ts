/**
 * The one hostcall dispatcher. Every call from every guest passes here: it checks the
 * capability and the agent's rate limit, calls the host function with the agent's view, turns a
 * `GuestError` into the WIT `error` value, appends the call (encoded arguments and result) to
 * the call's transaction (its journal records are stored with its outcome: txn.ts), counts it,
 * and logs a span `<cap>.<fn>` with the agent and the duration.
 * No capability bypasses it.
 *
 * A host function may return a Promise (a blocking call, such as `clock.sleep`): the dispatcher
 * then answers with a Promise of the served value, and the kernel releases the caller's CPU
 * permit until it settles.
 *
 * A call the worker answered itself (a posted call, see capability.ts) arrives afterwards with
 * its answer: `posted` journals it the same way (marked `posted`), counts it and applies it.
 *
 * @example
 * const d = dispatcher.forChannel();        // one per worker channel
 * const served = d.call(agent, fn, args, requestBytes);
 * d.result(responseBytes, status);          // completes the journal record
 */

import type { Logger } from 'pino';
import type { AgentRuntime } from '../agents/agent.js';
import { TokenBucket } from '../agents/rate-limit.js';
import { equalBytes } from '../base/bytes.js';
import { GuestError } from '../base/errors.js';
import { type Served, Status } from '../bridge/channel.js';
import { decodeValue, encodeToBytes } from '../bridge/codec.js';
import type { HostcallEntry, HostcallTable } from '../hostcall/linker.js';
import { WithNote } from '../sdk/capability.js';
import type { Journal, JournalRecord } from '../store/journal.js';
import type { OutsideResults } from '../store/outside-results.js';

interface InFlight {
  agent: AgentRuntime;
  span: string;
  at: number;
  us: number;
  request: Uint8Array;
}

/** One channel's view of the dispatcher: its calls come one at a time. */
export interface ChannelDispatch {
  call(
    agent: AgentRuntime | null,
    fn: number,
    args: unknown[],
    request: Uint8Array,
  ): Served | Promise<Served>;
  /** Completes the journal record of the call just served, with the encoded result. */
  result(response: Uint8Array, status: Status): void;
}

export class Dispatcher {
  private readonly spans: boolean;

  constructor(
    private readonly table: HostcallTable,
    private readonly journal: Journal,
    private readonly logger: Logger,
    private readonly now: () => number,
    private readonly outside: OutsideResults,
  ) {
    this.spans = logger.isLevelEnabled('debug');
  }

  /** A dispatcher for one worker channel, holding that channel's call in flight. */
  forChannel(): ChannelDispatch {
    let inflight: InFlight | null = null;
    return {
      call: (agent, fn, args, request) => {
        const entry = this.table.entries[fn];
        if (!agent) return { status: Status.Fault, value: 'hostcall outside an invocation' };
        if (!entry) return { status: Status.Fault, value: `no hostcall ${fn}` };
        const at = this.now();
        const t0 = performance.now();
        const done = (served: Served): Served => {
          const us = (performance.now() - t0) * 1000;
          this.count(agent, entry, us);
          inflight = { agent, span: entry.span, at, us, request };
          return served;
        };
        // A replay answers from the recorded journal: no capability runs.
        if (agent.replay) {
          const answer = agent.replay.answer(entry.span, request);
          // A recovery's re-execution: the calls are in the journal already, and counted.
          return agent.replay.quiet ? answer : done(answer);
        }
        const served = this.outsideCall(agent, entry, args, request) ?? this.serve(agent, entry, args);
        return served instanceof Promise ? served.then(done) : done(served);
      },
      result: (response, status) => {
        const f = inflight;
        if (!f) return;
        inflight = null;
        this.record(f.agent, {
          t: 'hostcall',
          at: f.at,
          fn: f.span,
          args: f.request,
          result: response,
          status,
          us: Math.round(f.us * 10) / 10,
        });
      },
    };
  }

  /**
   * Applies a call the worker answered itself: journals it with the answer the guest got, counts
   * it, and runs the capability's posted function. Calls past a `drop` rate limit are only
   * counted; other posted calls were answered under the kernel's own grant and always apply.
   * @throws Error when `fn` cannot be posted (a worker bug: nothing is applied)
   */
  posted(agent: AgentRuntime, fn: number, args: Uint8Array, result: Uint8Array): void {
    const entry = this.table.entries[fn];
    const apply = entry?.capability.posted?.[entry.fn];
    const ctx = entry && agent.contexts.get(entry.capability.name);
    if (!entry || !apply || !ctx)
      throw new Error(`hostcall ${entry?.span ?? fn} cannot be posted by ${agent.id}`);
    this.record(agent, {
      t: 'hostcall',
      at: this.now(),
      fn: entry.span,
      args,
      result,
      status: Status.Ok,
      us: 0,
      posted: true,
    });
    this.count(agent, entry, 0);
    const cap = entry.capability.name;
    if (!this.admit(agent, cap) && entry.capability.overRate === 'drop') {
      const limits = agent.record.stats.limits;
      limits[`rate:${cap}`] = (limits[`rate:${cap}`] ?? 0) + 1;
      return;
    }
    (apply as (c: unknown, r: unknown, ...a: unknown[]) => void)(
      ctx,
      decodeValue(result),
      ...(decodeValue(args) as unknown[]),
    );
  }

  /** A hostcall's record joins its call's transaction (stored when the call ends), else the journal. */
  private record(agent: AgentRuntime, r: JournalRecord): void {
    if (agent.txn) agent.txn.records.push(r);
    else this.journal.append(agent.id, r);
  }

  /**
   * A call of an `outside` function within an invocation: the answer kept from an earlier run of
   * the same message (same place, same function, same arguments), or the call made now and its
   * answer kept on disk before the guest gets it. Null for any other call.
   */
  private outsideCall(
    agent: AgentRuntime,
    entry: HostcallEntry,
    args: unknown[],
    request: Uint8Array,
  ): Served | Promise<Served> | null {
    if (!entry.capability.outside?.includes(entry.fn)) return null;
    const records = agent.txn?.records;
    const first = records?.[0];
    if (!records || first?.t !== 'invoke') return null; // init runs no message: not covered
    const message = first.message.id;
    const index = records.reduce((n, r) => n + (r.t === 'hostcall' ? 1 : 0), 0);
    const kept = this.outside.get(agent.id, message, index);
    if (kept && kept.fn === entry.span && equalBytes(kept.args, request)) {
      this.logger.info(
        { agent: agent.id, span: entry.span, message },
        'answered from the result kept of an earlier run',
      );
      return { status: kept.status as Status, value: decodeValue(kept.result) };
    }
    const keep = async (s: Served): Promise<Served> => {
      // A kernel fault is no answer the guest acts on: nothing to keep.
      if (s.status !== Status.Fault) {
        const result = encodeToBytes(s.value);
        await this.outside.put(agent.id, message, index, {
          fn: entry.span,
          args: request,
          status: s.status,
          result,
        });
      }
      return s;
    };
    const served = this.serve(agent, entry, args);
    return served instanceof Promise ? served.then(keep) : keep(served);
  }

  /** The agent's worker command ended: capabilities take back what they granted for it. */
  commandEnded(agent: AgentRuntime): void {
    for (const [name, ctx] of agent.contexts) this.table.byCapability.get(name)?.commandEnded?.(ctx);
  }

  private serve(agent: AgentRuntime, entry: HostcallEntry, args: unknown[]): Served | Promise<Served> {
    const cap = entry.capability.name;
    const ctx = agent.contexts.get(cap);
    if (!ctx) return { status: Status.GuestError, value: { tag: 'denied', val: `${cap} is not granted` } };
    if (!this.admit(agent, cap)) {
      const rate = agent.record.limits.hostcallsPerSecond[cap];
      const limits = agent.record.stats.limits;
      limits[`rate:${cap}`] = (limits[`rate:${cap}`] ?? 0) + 1;
      if (entry.capability.overRate === 'drop') return { status: Status.Ok, value: undefined };
      const val = `${cap} allows ${rate} calls per second to this agent`;
      return { status: Status.GuestError, value: { tag: 'quota-exceeded', val } };
    }
    const fail = (e: unknown): Served => {
      if (e instanceof GuestError)
        return { status: Status.GuestError, value: { tag: e.tag, val: e.message } };
      this.logger.error({ err: e, agent: agent.id, span: entry.span }, 'hostcall failed');
      return {
        status: Status.Fault,
        value: `${entry.span} failed in the kernel: ${(e as Error)?.message ?? e}`,
      };
    };
    try {
      const value = (entry.impl as (c: unknown, ...a: unknown[]) => unknown)(ctx, ...args);
      if (value instanceof Promise) return value.then((v) => ({ status: Status.Ok, value: v }), fail);
      if (value instanceof WithNote) return { status: Status.Ok, value: value.value, aside: value.note };
      return { status: Status.Ok, value };
    } catch (e) {
      return fail(e);
    }
  }

  private count(agent: AgentRuntime, entry: HostcallEntry, us: number): void {
    const hostcalls = agent.record.stats.hostcalls;
    hostcalls[entry.capability.name] = (hostcalls[entry.capability.name] ?? 0) + 1;
    if (this.spans)
      this.logger.debug({ span: entry.span, agent: agent.id, us: Math.round(us * 10) / 10 }, 'hostcall');
  }

  /** Takes a token from the agent's bucket for `cap`, when it has a rate limit. */
  private admit(agent: AgentRuntime, cap: string): boolean {
    const rate = agent.record.limits.hostcallsPerSecond[cap];
    if (rate === undefined) return true;
    let bucket = agent.buckets.get(cap);
    if (bucket?.perSecond !== rate) {
      bucket = new TokenBucket(rate);
      agent.buckets.set(cap, bucket);
    }
    return bucket.take(this.now());
  }
}
