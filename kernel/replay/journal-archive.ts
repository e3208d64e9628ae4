/**
 * A journal archive: the entries `pruneJournal` drops, kept in one file first (`agentos journal
 * <id> --prune --archive FILE`), so that the history a retention policy removes from the data
 * dir can still be read. Layout: replay/container.ts, with the magic `AOSJRNL1`; the contents
 * name the agent, when it was archived, by which AgentOS, and the entries (hostcall payloads
 * as recorded).
 *
 * @example
 * writeFileSync('a.journal', encodeJournalArchive({ agent, archivedAt: Date.now(), agentos, entries }));
 * decodeJournalArchive(readFileSync('a.journal'), 'a.journal').entries.length;
 */
import { AgentOSError } from '../base/errors.js';
import type { JournalEntry } from '../store/journal.js';
import { pack, unpack } from './container.js';

const MAGIC = 'AOSJRNL1';
const FORMAT = 1;

export interface JournalArchive {
  agent: string;
  archivedAt: number;
  agentos: string;
  entries: JournalEntry[];
}

export function encodeJournalArchive(archive: JournalArchive): Buffer {
  return pack(MAGIC, FORMAT, archive);
}

/** @throws AgentOSError AOS_E_BAD_BUNDLE naming what is wrong */
export function decodeJournalArchive(bytes: Uint8Array, what: string): JournalArchive {
  const bad = (why: string): AgentOSError =>
    new AgentOSError('AOS_E_BAD_BUNDLE', `${what} is not a usable journal archive: ${why}`, { bundle: what });
  const a = unpack(MAGIC, FORMAT, bytes, bad) as JournalArchive;
  if (typeof a !== 'object' || a === null || typeof a.agent !== 'string' || !Array.isArray(a.entries))
    throw bad('its contents are not an archived journal');
  for (const [i, e] of a.entries.entries())
    if (typeof e?.t !== 'string' || !Number.isSafeInteger(e.seq) || (i > 0 && e.seq <= a.entries[i - 1]!.seq))
      throw bad(`entry ${i} is not in sequence`);
  return a;
}
