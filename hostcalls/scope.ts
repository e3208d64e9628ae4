/** Grant-scope checks shared by capabilities that take no scope. */
import type { Grant } from '../kernel/capability.js';
import { AgentOSError } from '../kernel/errors.js';

/** Throws AOS_E_BAD_CONFIG if the grant carries a scope (e.g. `clock:fast`). */
export function rejectScope(grant: Grant, agent: string): void {
  if (grant.scope !== '') {
    throw new AgentOSError(
      'AOS_E_BAD_CONFIG',
      `grant "${grant.capability}:${grant.scope}" for ${agent}: ${grant.capability} takes no scope`,
      { grant: `${grant.capability}:${grant.scope}` },
    );
  }
}
