/**
 * What `kernel.journal`, `kernel.checkpoint` and `kernel.pruneJournal` do (docs/snapshots.md): an
 * agent's journal read, its state taken and kept as its newest checkpoint, and its journal
 * dropped before its oldest one.
 *
 * @example
 * await readJournal(core, id, { from: 10 });
 * await checkpointAgent(core, id);   // { seq, at, bytes }, on disk
 * await pruneJournal(core, id);      // { removed, from }
 */
import type { CheckpointInfo } from './agents/info.js';
import type { KernelAssembly } from './assembly.js';
import { writeFileOrRefuse } from './base/atomic-write.js';
import { AgentOSError } from './base/errors.js';
import { agentosVersion } from './base/paths.js';
import { checkAgentId, checkPathOption, checkWhole } from './base/validate.js';
import { encodeJournalArchive } from './replay/journal-archive.js';
import type { ReadableEntry } from './store/journal.js';

/** @throws AgentOSError AOS_E_BAD_ARGUMENT, AOS_E_AGENT_NOT_FOUND */
export async function readJournal(
  core: KernelAssembly,
  id: string,
  options: { from?: number; limit?: number },
): Promise<ReadableEntry[]> {
  checkAgentId(id);
  if (typeof options !== 'object' || options === null)
    throw new AgentOSError('AOS_E_BAD_ARGUMENT', 'journal options must be an object');
  if (options.from !== undefined) checkWhole(options.from, 'from');
  if (options.limit !== undefined) checkWhole(options.limit, 'limit');
  core.known(id);
  await core.store.flushed();
  return [...core.journalStore.read(id, options.from ?? 0, options.limit)];
}

/**
 * @throws AgentOSError AOS_E_AGENT_NOT_FOUND; AOS_E_BAD_STATE when it has no instance or an
 * upgrade or a fork holds it; AOS_E_RESULT_TOO_LARGE
 */
export async function checkpointAgent(core: KernelAssembly, id: string): Promise<CheckpointInfo> {
  core.check();
  const agent = core.agents.get(id);
  const c = agent.dormant ? core.checkpoints.latest(id) : await core.checkpointing.take(agent, true);
  if (!c) throw new AgentOSError('AOS_E_BAD_STATE', `agent ${id} has no state kept`, { agent: id });
  await core.store.flushed(); // on disk when this returns
  return { seq: c.seq, at: c.at, bytes: c.bytes.byteLength };
}

/** What a prune did: how many entries went, the checkpoint the journal starts from, the archive written. */
export interface Pruned {
  removed: number;
  from: number;
  archived?: string;
}

/**
 * `archive`: the entries that go are written to that file first (store/journal-archive.ts), on
 * disk before any goes. @throws AgentOSError AOS_E_AGENT_NOT_FOUND; AOS_E_BAD_STATE when it has no
 * checkpoint; AOS_E_BAD_ARGUMENT (options, or the archive cannot be written: nothing is pruned)
 */
export async function pruneJournal(
  core: KernelAssembly,
  id: string,
  options: { archive?: string } = {},
): Promise<Pruned> {
  core.check();
  checkAgentId(id);
  checkPathOption(options, 'archive', 'prune');
  const archive = options.archive;
  core.known(id);
  await core.store.flushed();
  const cp = core.checkpoints.oldest(id);
  if (!cp)
    throw new AgentOSError(
      'AOS_E_BAD_STATE',
      `agent ${id} has no checkpoint: its journal is all that recovery and replay have (take one with kernel.checkpoint)`,
      { agent: id },
    );
  if (archive !== undefined) {
    const entries = core.journalStore.pruned(id, cp.seq);
    const file = encodeJournalArchive({
      agent: id,
      archivedAt: Date.now(),
      agentos: agentosVersion(),
      entries,
    });
    writeFileOrRefuse(archive, file, 'archive', 'nothing was pruned', { agent: id });
  }
  const removed = core.journalStore.prune(id, cp.seq);
  await core.store.flushed();
  return { removed, from: cp.seq, ...(archive === undefined ? {} : { archived: archive }) };
}
