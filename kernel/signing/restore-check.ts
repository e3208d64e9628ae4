/**
 * The signing check an agent passes again when a kernel opens: its component, read back from the
 * data dir, is admitted by today's policy, and the publisher is still trusted with every
 * capability the agent holds. A key revoked or expired since the spawn, a publisher trusted with
 * less, or bytes changed in the data dir, each stop the agent from starting (agents.ts `restore`
 * marks it crashed with the reason; its record and mailbox stay).
 *
 * @example
 * const vouch = restoreCheck(policy, (digest) => loader.stored(digest));
 * vouch(record);   // or throws the policy's coded error
 */
import { AgentOSError } from '../base/errors.js';
import type { AgentRecord } from '../store/process-table.js';
import { readManifest } from './manifest.js';
import type { Provenance, SigningPolicy } from './policy.js';

export function restoreCheck(
  policy: SigningPolicy,
  stored: (digest: string) => Uint8Array,
): (record: AgentRecord) => void {
  // Many agents share a component: each is read and verified once.
  const verdicts = new Map<string, Provenance | AgentOSError>();
  return (record) => {
    let v = verdicts.get(record.digest);
    if (!v) {
      const what = `agent ${record.id}'s component`;
      try {
        const bytes = stored(record.digest);
        v = policy.admit(bytes, record.digest, readManifest(bytes, what), what);
      } catch (e) {
        if (!(e instanceof AgentOSError)) throw e;
        v = e;
      }
      verdicts.set(record.digest, v);
    }
    if (v instanceof AgentOSError) throw v;
    const allowed = v.allowed;
    if (!allowed) return;
    for (const grant of record.grants) {
      const name = grant.split(':')[0]!.trim();
      if (!allowed.includes(name))
        throw new AgentOSError(
          'AOS_E_IMPORT_NOT_GRANTED',
          `${record.id} holds ${name}, but its publisher ${v.publisher} is now trusted only with ${allowed.join(', ') || 'nothing'}`,
          { agent: record.id, capability: name },
        );
    }
  };
}
