/**
 * A message as the kernel stores it in a mailbox, journals it and hands it to a worker.
 */

/** A message as the kernel stores and delivers it (`body` is JSON text). */
export interface StoredMessage {
  id: number;
  kind: string;
  sender: string | null;
  body: string;
  sentAt: number;
  /** 0 high, 2 low; absent: normal (1). */
  priority?: 0 | 2;
  /** Kernel-clock ms after which it is dropped undelivered. */
  expiresAt?: number;
  /** A request: the handler's result goes to this agent as `ipc.reply`, if it comes by `replyBy`. */
  replyTo?: string;
  replyBy?: number;
  /** Deliveries that ended in a crash so far (absent: none). */
  attempts?: number;
  /**
   * Its place in the mailbox, when that is not its id: a send the worker answered under a credit
   * got its id when it was made and its place when the kernel applied it (see store/mailbox.ts).
   */
  seq?: number;
}

/** Where a message sits in its mailbox: FIFO order within a priority, and its key. */
export const mailboxSeq = (m: StoredMessage): number => m.seq ?? m.id;
