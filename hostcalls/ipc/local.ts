/**
 * The worker's side of `ipc.send`: under a credit the kernel granted (credits.ts), the worker
 * answers a send itself — the message id is the credit's next one — and posts it to the kernel,
 * which stores it in the receiver's mailbox before it serves the sender's next blocking call.
 * Anything the worker cannot vouch for (no credit left, a malformed envelope, a kind the
 * receiver would refuse, a body over the limit) goes the blocking way, and the kernel answers,
 * or refuses with the reason.
 *
 * @example
 * const send = localSend();
 * send.onNote(['b-2', env], { first: 41, count: 8, maxBytes: 1 << 20 });
 * send.answer(['b-2', env]);   // { value: 41n, commit }
 */
import { Buffer } from 'node:buffer';
import { agentKind, type LocalFunction, type WorkerSide } from '../../kernel/sdk/index.js';
import type { CreditGrant } from './credits.js';
import { checkEnvelope, type WitEnvelope } from './envelope.js';

interface Held {
  next: number;
  end: number;
  maxBytes: number;
}

export function localSend(): LocalFunction {
  const credits = new Map<string, Held>();
  return {
    answer(args) {
      const [to, message] = args as [string, WitEnvelope];
      const c = credits.get(to);
      if (!c || c.next >= c.end || !agentKind(message.kind)) return null;
      try {
        checkEnvelope(message);
      } catch {
        return null; // the kernel says what is wrong with it
      }
      if (Buffer.byteLength(message.body, 'utf8') > c.maxBytes) return null;
      const id = c.next;
      return {
        value: BigInt(id),
        commit: () => {
          c.next = id + 1;
        },
      };
    },
    // A blocking send to `to` ends the credit for `to` on both sides.
    willAsk(args) {
      credits.delete(args[0] as string);
    },
    onNote(args, note) {
      const g = note as CreditGrant;
      credits.set(args[0] as string, { next: g.first, end: g.first + g.count, maxBytes: g.maxBytes });
    },
    commandEnded() {
      credits.clear();
    },
  };
}

/** What the worker answers itself in `ipc` (see Capability.worker). */
export const local: WorkerSide = { send: localSend };
