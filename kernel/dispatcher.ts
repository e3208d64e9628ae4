/**
 * The one hostcall dispatcher. Every call from every guest passes here: it checks the
 * capability, calls the host function with the agent's view, turns a `GuestError` into the WIT
 * `error` value, appends the call (encoded arguments and result) to the agent's journal, counts
 * it, and logs a span `<cap>.<fn>` with the agent and the duration. No capability bypasses it.
 */
import type { Logger } from 'pino';
import type { AgentRuntime } from './agent.js';
import { type Served, Status } from './bridge/channel.js';
import { GuestError } from './errors.js';
import type { HostcallTable } from './linker.js';
import { TokenBucket } from './rate-limit.js';
import type { Journal } from './store/journal.js';

interface InFlight {
  agent: AgentRuntime;
  span: string;
  at: number;
  us: number;
  request: Uint8Array;
}

export class Dispatcher {
  private inflight: InFlight | null = null;
  private readonly spans: boolean;

  constructor(
    private readonly table: HostcallTable,
    private readonly journal: Journal,
    private readonly logger: Logger,
    private readonly now: () => number,
  ) {
    this.spans = logger.isLevelEnabled('debug');
  }

  /** Serves one call from `agent` (null: the channel has no invocation on it). */
  call(agent: AgentRuntime | null, fn: number, args: unknown[], request: Uint8Array): Served {
    const entry = this.table.entries[fn];
    if (!agent) return { status: Status.Fault, value: 'hostcall outside an invocation' };
    if (!entry) return { status: Status.Fault, value: `no hostcall ${fn}` };
    const t0 = performance.now();
    let served: Served;
    const cap = entry.capability.name;
    const ctx = agent.contexts.get(cap);
    if (!ctx) {
      served = {
        status: Status.GuestError,
        value: { tag: 'denied', val: `${cap} is not granted` },
      };
    } else if (!this.admit(agent, cap)) {
      const rate = agent.record.limits.hostcallsPerSecond[cap];
      const limits = agent.record.stats.limits;
      limits[`rate:${cap}`] = (limits[`rate:${cap}`] ?? 0) + 1;
      served =
        entry.capability.overRate === 'drop'
          ? { status: Status.Ok, value: undefined }
          : {
              status: Status.GuestError,
              value: { tag: 'quota-exceeded', val: `${cap} allows ${rate} calls per second to this agent` },
            };
    } else {
      try {
        served = {
          status: Status.Ok,
          value: (entry.impl as (c: unknown, ...a: unknown[]) => unknown)(ctx, ...args),
        };
      } catch (e) {
        if (e instanceof GuestError)
          served = { status: Status.GuestError, value: { tag: e.tag, val: e.message } };
        else {
          this.logger.error({ err: e, agent: agent.id, span: entry.span }, 'hostcall failed');
          served = {
            status: Status.Fault,
            value: `${entry.span} failed in the kernel: ${(e as Error)?.message ?? e}`,
          };
        }
      }
    }
    const us = (performance.now() - t0) * 1000;
    const hostcalls = agent.record.stats.hostcalls;
    hostcalls[entry.capability.name] = (hostcalls[entry.capability.name] ?? 0) + 1;
    if (this.spans)
      this.logger.debug({ span: entry.span, agent: agent.id, us: Math.round(us * 10) / 10 }, 'hostcall');
    this.inflight = { agent, span: entry.span, at: this.now(), us, request };
    return served;
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

  /** Completes the journal record of the call just served, with the encoded result. */
  result(response: Uint8Array, status: Status): void {
    const f = this.inflight;
    if (!f) return;
    this.inflight = null;
    this.journal.append(f.agent.id, {
      t: 'hostcall',
      at: f.at,
      fn: f.span,
      args: f.request,
      result: response,
      status,
      us: Math.round(f.us * 10) / 10,
    });
  }
}
