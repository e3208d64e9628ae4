/**
 * Which crashes would happen again: a message whose call failed that way is dead-lettered on its
 * first attempt instead of being delivered again (with backoff) until its attempts run out.
 *
 * Deterministic: the per-invocation fuel budget (the same input uses the same fuel), a stack
 * overflow, a result over the size limit, a result of the wrong type. Retried: a trap or a throw
 * (a fresh instance starts from init, and what other agents answer may differ), the memory cap
 * (a resident instance's heap grows over many messages; a fresh one starts small), a lost
 * worker, a deadline (wall time depends on the machine's load), a window budget.
 *
 * @example
 * deterministic(err); // 'fuel exhausted with the same budget', or null: deliver again
 */
import type { AgentOSError } from '../base/errors.js';

/** Why retrying `err` is pointless, or null when another attempt may pass. */
export function deterministic(err: AgentOSError): string | null {
  switch (err.code) {
    case 'AOS_E_FUEL_EXHAUSTED':
      return err.details.budgetKind === 'invocation'
        ? 'it would exhaust the same per-invocation fuel budget again'
        : null;
    case 'AOS_E_STACK_OVERFLOW':
      return 'it would overflow the stack again';
    case 'AOS_E_RESULT_TOO_LARGE':
      return 'its result would be too large again';
    case 'AOS_E_BAD_RESULT':
      return 'it would return a malformed result again';
    default:
      return null;
  }
}
