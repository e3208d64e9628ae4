/**
 * Send credits: places in a receiver's mailbox promised to one sender for the rest of its
 * worker command, so its worker can answer further `send`s to that receiver itself (posting them
 * to the kernel, bridge/post-ring.ts) instead of blocking on a round trip for each.
 *
 * A blocking `send` from A to B grants A a credit for B: a few places in B's mailbox (the bus
 * counts them against B's limit, so backpressure still holds) and as many message ids. Each
 * blocking send to the same receiver doubles the next credit, up to `MAX_CREDIT`; a credit ends
 * at A's next blocking send to B (a fresh one replaces it) or when A's command ends, and its
 * unused places go back. So a one-off send reserves almost nothing, and a flood asks the kernel
 * once per `MAX_CREDIT` messages.
 *
 * @example
 * const credits = new Credits(bus);
 * const ended = credits.end('a-1', 'b-2');        // a blocking send from a-1 to b-2 begins
 * const grant = credits.grant('a-1', 'b-2', ended); // ...and went through
 * credits.use('a-1', 'b-2', grant!.first);        // a posted send under it: true
 * credits.release('a-1');                         // a-1's command ended
 */
import type { Mailer } from '../../kernel/sdk/index.js';

/** The first credit a sender gets for a receiver, and the most any credit holds. */
export const FIRST_CREDIT = 8;
export const MAX_CREDIT = 256;

/** What the worker's side is told (the aside of the blocking send). */
export interface CreditGrant {
  /** The id of the first send under the credit; the next ones follow. */
  first: number;
  count: number;
  /** The largest body a send under the credit may carry, in bytes. */
  maxBytes: number;
}

interface Credit {
  next: number;
  end: number;
  size: number;
}

export class Credits {
  /** Sender → receiver → its credit. */
  private readonly held = new Map<string, Map<string, Credit>>();

  constructor(private readonly bus: Mailer) {}

  /**
   * A blocking send from `sender` to `to` begins: the worker dropped its credit for `to`, so the
   * kernel ends it too (whether the send then goes through or not), and its unused places go
   * back. Returns the ended credit's size, which the next one doubles.
   */
  end(sender: string, to: string): number {
    const mine = this.held.get(sender);
    const old = mine?.get(to);
    if (!old) return 0;
    this.bus.unreserve(to, old.end - old.next);
    mine!.delete(to);
    return old.size;
  }

  /** The blocking send went through: a fresh credit, twice the size of the one it ended. */
  grant(sender: string, to: string, ended: number): CreditGrant | null {
    const size = ended > 0 ? Math.min(MAX_CREDIT, ended * 2) : FIRST_CREDIT;
    const places = this.bus.reserve(to, size);
    if (!places) return null;
    let mine = this.held.get(sender);
    if (!mine) {
      mine = new Map();
      this.held.set(sender, mine);
    }
    mine.set(to, { next: places.first, end: places.first + places.count, size });
    return { first: places.first, count: places.count, maxBytes: this.bus.maxMessageBytes };
  }

  /** A posted send with id `id`: true when it is the next place of `sender`'s credit for `to`. */
  use(sender: string, to: string, id: number): boolean {
    const c = this.held.get(sender)?.get(to);
    if (!c || id !== c.next || c.next >= c.end) return false;
    c.next++;
    return true;
  }

  /** `sender`'s command ended: every place it did not use goes back. */
  release(sender: string): void {
    const mine = this.held.get(sender);
    if (!mine) return;
    for (const [to, c] of mine) this.bus.unreserve(to, c.end - c.next);
    this.held.delete(sender);
  }

  /** Places `sender` holds, for tests and stats. */
  holding(sender: string): number {
    let n = 0;
    for (const c of this.held.get(sender)?.values() ?? []) n += c.end - c.next;
    return n;
  }
}
