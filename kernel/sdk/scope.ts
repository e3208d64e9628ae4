/**
 * Grant-scope parsers shared by capabilities: none (`log`, `clock`), or a list of event-kind
 * prefixes (`events:agent.|quota.`). Each refuses what it does not define with AOS_E_BAD_CONFIG,
 * naming the grant and the agent (or, at spawn, the component).
 *
 * @example
 * rejectScope({ capability: 'clock', scope: 'fast' }, 'echo.wasm');            // throws
 * parsePrefixScope({ capability: 'events', scope: 'agent.|quota.' }, 'w-1');    // ['agent.', 'quota.']
 */

import { AgentOSError } from '../base/errors.js';
import type { Grant } from './capability.js';

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

/** One prefix of an event kind (`agent.`, `message.dead-lettered`). */
const PREFIX = /^[a-z0-9.-]+$/;

/**
 * Parses a scope of event-kind prefixes joined by `|` (`agent.|quota.`); '' allows every kind.
 * @throws AgentOSError AOS_E_BAD_CONFIG for anything else (an empty prefix, spaces, `;`)
 */
export function parsePrefixScope(grant: Grant, agent: string): string[] {
  if (grant.scope === '') return [];
  const prefixes = grant.scope.split('|');
  const bad = prefixes.find((p) => !PREFIX.test(p));
  if (bad !== undefined) {
    const raw = `${grant.capability}:${grant.scope}`;
    throw new AgentOSError(
      'AOS_E_BAD_CONFIG',
      `grant "${raw}" for ${agent}: ${JSON.stringify(bad)} is not an event-kind prefix; the scope is prefixes of a-z, 0-9, '.' and '-' joined by '|', as ${grant.capability}:agent.|quota.`,
      { grant: raw },
    );
  }
  return prefixes;
}
