/**
 * What `kernel.deadLetters`, `kernel.requeue` and `kernel.purgeDeadLetters` do: the dead-letter
 * queue (store/dead-letters.ts) read, a dead letter put back into its agent's mailbox, and dead
 * letters deleted, each once everything written before is on disk.
 *
 * @example
 * await requeueDeadLetter(core, 'echo-1a2b3c', 7);   // { messageId: 12 }
 */
import type { KernelAssembly } from './assembly.js';
import { AgentOSError } from './base/errors.js';
import { checkAgentId, checkWhole } from './base/validate.js';
import type { DeadLetter } from './store/dead-letters.js';

export async function listDeadLetters(core: KernelAssembly, id?: string): Promise<DeadLetter[]> {
  core.check();
  await core.store.flushed();
  return core.deadLetterQueue.list(id);
}

/** @throws AgentOSError AOS_E_BAD_ARGUMENT, AOS_E_DEAD_LETTER_NOT_FOUND, or the bus's refusals (agent gone, mailbox full) */
export async function requeueDeadLetter(
  core: KernelAssembly,
  id: string,
  messageId: number,
): Promise<{ messageId: number }> {
  checkAgentId(id);
  checkWhole(messageId, 'messageId');
  core.check();
  await core.store.flushed();
  return { messageId: core.deadLetterQueue.requeue(id, messageId, core.bus).id };
}

/** @throws AgentOSError AOS_E_BAD_ARGUMENT */
export async function purgeDeadLetters(
  core: KernelAssembly,
  id?: string,
  messageIds?: number[],
): Promise<number> {
  if (id !== undefined) checkAgentId(id);
  if (messageIds !== undefined) {
    if (!Array.isArray(messageIds))
      throw new AgentOSError('AOS_E_BAD_ARGUMENT', 'messageIds must be an array of whole numbers');
    for (const [i, m] of messageIds.entries()) checkWhole(m, `messageIds[${i}]`);
  }
  core.check();
  await core.store.flushed();
  const n = core.deadLetterQueue.purge(id, messageIds);
  await core.store.flushed();
  return n;
}
