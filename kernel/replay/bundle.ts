/**
 * A recorded run in one portable file: the component bytes each agent ran (by digest), each
 * agent's record and whole journal, and the order of every invocation across agents. A replay
 * on any machine needs nothing else (docs/replay.md, *Bundles*).
 *
 * Layout: replay/container.ts, with the magic `AOSBNDL1`. Reading checks the container, then
 * every component against its digest, and every agent's journal entries for shape, before
 * anything uses them.
 *
 * @example
 * const file = encodeBundle({ agents, components, order });
 * const back = decodeBundle(file, 'run.bundle');   // or AOS_E_BAD_BUNDLE saying what is wrong
 */
import { createHash } from 'node:crypto';
import { AgentOSError } from '../base/errors.js';
import type { JournalEntry } from '../store/journal.js';
import type { AgentRecord } from '../store/process-table.js';
import { pack, unpack } from './container.js';

const MAGIC = 'AOSBNDL1';
const FORMAT = 1;

export interface BundledAgent {
  /** Its record as the kernel kept it (state, limits, provenance), capability state left out. */
  record: Omit<AgentRecord, 'capState'>;
  /** Its whole journal, hostcall payloads as recorded (encoded bytes). */
  entries: JournalEntry[];
}

export interface BundleContents {
  /** When it was recorded (ms since the epoch), and by which AgentOS. */
  recordedAt: number;
  agentos: string;
  agents: BundledAgent[];
  /** Component bytes by sha256 (hex): every component any bundled agent ran. */
  components: Record<string, Uint8Array>;
  /** Every invocation across the agents, in the order they began: [agent, journal seq]. */
  order: [string, number][];
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

export function encodeBundle(contents: BundleContents): Buffer {
  return pack(MAGIC, FORMAT, contents);
}

/** @throws AgentOSError AOS_E_BAD_BUNDLE naming what is wrong */
export function decodeBundle(bytes: Uint8Array, what: string): BundleContents {
  const bad = (why: string): AgentOSError =>
    new AgentOSError('AOS_E_BAD_BUNDLE', `${what} is not a usable bundle: ${why}`, { bundle: what });
  const contents = unpack(MAGIC, FORMAT, bytes, bad) as BundleContents;
  check(contents, bad);
  return contents;
}

function check(c: BundleContents, bad: (why: string) => AgentOSError): void {
  if (typeof c !== 'object' || c === null || !Array.isArray(c.agents) || !Array.isArray(c.order))
    throw bad('its contents are not a recorded run');
  if (typeof c.components !== 'object' || c.components === null) throw bad('it has no components');
  for (const [digest, bytes] of Object.entries(c.components)) {
    if (!(bytes instanceof Uint8Array) || sha256(bytes) !== digest)
      throw bad(`component ${digest.slice(0, 12)}… does not match its digest`);
  }
  const ids = new Set<string>();
  for (const a of c.agents) {
    const id = a?.record?.id;
    if (typeof id !== 'string' || ids.has(id) || !Array.isArray(a.entries))
      throw bad(`agent ${JSON.stringify(id)} is not a recorded agent (or appears twice)`);
    ids.add(id);
    const first = a.entries[0]?.seq ?? 0;
    for (const [i, e] of a.entries.entries()) {
      if (typeof e?.t !== 'string' || e.seq !== first + i)
        throw bad(`agent ${id}'s journal entry ${i} is not in sequence`);
      if (e.t === 'hostcall' && !(e.args instanceof Uint8Array && e.result instanceof Uint8Array))
        throw bad(`agent ${id}'s journal entry ${i} is not a hostcall record`);
      if ((e.t === 'spawn' || e.t === 'upgrade') && !(e.digest in c.components))
        throw bad(`agent ${id} ran component ${String(e.digest).slice(0, 12)}…, which the bundle lacks`);
    }
  }
  for (const o of c.order)
    if (!Array.isArray(o) || !ids.has(o[0]) || typeof o[1] !== 'number')
      throw bad(`its order names ${JSON.stringify(o)}, no invocation of a bundled agent`);
}
