/**
 * What an `ipc` grant allows. Bare `ipc` allows everything; a scoped grant allows only what it
 * names, as `;`-separated clauses of `|`-separated patterns (`*` matches any run of characters):
 *
 *   ipc:send=worker-*|planner-*;publish=news.*;subscribe=news.*|alerts;broadcast
 *
 * - `send`: agents it may `send`, `request` and `call` to;
 * - `publish` / `subscribe`: channels;
 * - `broadcast`: may broadcast (to the agents `send` allows).
 */
import { AgentOSError } from '../../kernel/sdk/index.js';

export interface IpcRights {
  send: RegExp[];
  publish: RegExp[];
  subscribe: RegExp[];
  broadcast: boolean;
}

const ANY = [/^.*$/];
const VERBS = ['send', 'publish', 'subscribe', 'broadcast'] as const;

function glob(pattern: string): RegExp {
  const escaped = pattern.replace(/[.+?^${}()[\]\\]/g, '\\$&').replace(/\*/g, '.*');
  return new RegExp(`^${escaped}$`);
}

/** Parses the scope of an `ipc` grant. @throws AgentOSError AOS_E_BAD_CONFIG */
export function parseRights(scope: string, agent: string): IpcRights {
  if (scope === '') return { send: ANY, publish: ANY, subscribe: ANY, broadcast: true };
  const rights: IpcRights = { send: [], publish: [], subscribe: [], broadcast: false };
  for (const clause of scope
    .split(';')
    .map((c) => c.trim())
    .filter((c) => c !== '')) {
    const at = clause.indexOf('=');
    const verb = (at === -1 ? clause : clause.slice(0, at)).trim();
    const bad = (why: string): AgentOSError =>
      new AgentOSError('AOS_E_BAD_CONFIG', `grant "ipc:${scope}" for ${agent}: ${why}`, {
        grant: `ipc:${scope}`,
      });
    if (!(VERBS as readonly string[]).includes(verb))
      throw bad(`"${verb}" is not one of ${VERBS.join(', ')}`);
    if (verb === 'broadcast') {
      if (at !== -1) throw bad('broadcast takes no patterns (it reaches the agents `send` allows)');
      rights.broadcast = true;
      continue;
    }
    const patterns =
      at === -1
        ? []
        : clause
            .slice(at + 1)
            .split('|')
            .map((p) => p.trim())
            .filter((p) => p !== '');
    if (patterns.length === 0) throw bad(`${verb} needs patterns, as ${verb}=name|prefix-*`);
    rights[verb as 'send' | 'publish' | 'subscribe'].push(...patterns.map(glob));
  }
  return rights;
}

export const allows = (patterns: RegExp[], name: string): boolean => patterns.some((p) => p.test(name));
