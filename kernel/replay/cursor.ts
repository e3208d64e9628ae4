/**
 * The answers a replayed instance gets: each hostcall is answered from the recorded journal, in
 * order, after its name and its encoded arguments are checked against the record's. Nothing a
 * capability does runs. The first call that differs (another function, other arguments, a call
 * the recorded run did not make) is the divergence: it is kept, and answered with a fault, so
 * the invocation ends there.
 *
 * @example
 * const cursor = new ReplayCursor();
 * cursor.expect(segment.hostcalls, 3);             // invocation 3's recorded calls
 * agent.replay = cursor;                            // the dispatcher asks it, not the capability
 * cursor.divergence;                                // null while all is as recorded
 */
import { equalBytes } from '../base/bytes.js';
import { type Served, Status } from '../bridge/channel.js';
import { decodeValue } from '../bridge/codec.js';
import type { JournalEntry } from '../store/journal.js';

export type RecordedCall = Extract<JournalEntry, { t: 'hostcall' }>;

/** Where a replay first did something the recorded run did not. */
export interface Divergence {
  /** The invocation (0: the spawn's init), counted over the replayed run. */
  invocation: number;
  /** The hostcall within it (0-based); absent when the outcome or the fuel differs. */
  hostcall?: number;
  /** The recorded journal entry's sequence number, when there is one. */
  seq?: number;
  what: 'hostcall' | 'outcome' | 'fuel' | 'missing-hostcall' | 'extra-hostcall' | 'instance';
  expected: string;
  actual: string;
}

/** A call's name and decoded arguments, as people read them. */
export function describeCall(fn: string, args: Uint8Array): string {
  let shown: string;
  try {
    shown = JSON.stringify(decodeValue(args), (_k, v) => (typeof v === 'bigint' ? `${v}n` : v));
  } catch {
    shown = `<${args.length} bytes>`;
  }
  const inner = shown.startsWith('[') ? shown.slice(1, -1) : shown;
  return `${fn}(${inner.length > 300 ? `${inner.slice(0, 300)}…` : inner})`;
}

export class ReplayCursor {
  private queue: readonly RecordedCall[] = [];
  private at = 0;
  private current = 0;
  divergence: Divergence | null = null;
  /** Set for a recovery's re-execution: the dispatcher neither journals nor counts the calls. */
  quiet = false;

  /** The calls the next instance start or invocation must make, in order. */
  expect(calls: readonly RecordedCall[], invocation: number): void {
    this.queue = calls;
    this.at = 0;
    this.current = invocation;
  }

  /** The invocation whose calls are expected now. */
  get invocation(): number {
    return this.current;
  }

  /** How many of the expected calls were made. */
  get made(): number {
    return this.at;
  }

  /** The expected calls not made (the replay made fewer). */
  left(): readonly RecordedCall[] {
    return this.queue.slice(this.at);
  }

  /** The recorded answer to the guest's call, or a fault at the first difference. */
  answer(fn: string, request: Uint8Array): Served {
    if (this.divergence) return { status: Status.Fault, value: 'the replay diverged' };
    const e = this.queue[this.at];
    if (!e || e.fn !== fn || !equalBytes(e.args, request)) {
      this.divergence = {
        invocation: this.current,
        hostcall: this.at,
        ...(e ? { seq: e.seq } : {}),
        what: e ? 'hostcall' : 'extra-hostcall',
        expected: e ? describeCall(e.fn, e.args) : `no hostcall (the recorded run made ${this.at})`,
        actual: describeCall(fn, request),
      };
      return { status: Status.Fault, value: `the replay diverged at hostcall ${this.at}` };
    }
    this.at += 1;
    return { status: e.status as Status, value: decodeValue(e.result) };
  }
}
