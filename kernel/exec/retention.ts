/**
 * Journal retention (docs/snapshots.md, *Retention*): with the kernel option `retention:
 * 'checkpoints'`, each time a checkpoint of an agent is kept, the agent's journal before its
 * oldest kept checkpoint is dropped (store/journal.ts `prune`; its spawn record stays), once the
 * checkpoint is on disk. Recovery and replay start from a kept checkpoint, so they need nothing
 * before it: an agent's journal then holds at most about `KEEP × checkpointEvery` invocations,
 * and its disk use stays flat however long it runs. `retention: 'all'` (the default) keeps every
 * record, for `record` and whole-run replays; `kernel.pruneJournal` prunes by hand. With
 * `journalArchiveDir`, what each prune drops is first written there, one AOSJRNL1 file per prune
 * (`<agent>-<first>-<last>.journal`), synced; a file that cannot be written stops the prune.
 *
 * @example
 * const r = new Retention({ policy: 'checkpoints', store, journal, checkpoints, logger });
 * r.kept('counter-1a2b3c');   // after a checkpoint is queued: its journal before it goes
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { writeFileDurably } from '../base/atomic-write.js';
import { agentosVersion } from '../base/paths.js';
import { encodeJournalArchive } from '../replay/journal-archive.js';
import type { Checkpoints } from '../store/checkpoints.js';
import type { Journal } from '../store/journal.js';
import type { Store } from '../store/store.js';

export type RetentionPolicy = 'all' | 'checkpoints';

export interface RetentionDeps {
  policy: RetentionPolicy;
  /** Where what goes is archived first (replay/journal-archive.ts), one file per prune; null: not kept. */
  archiveDir: string | null;
  store: Store;
  journal: Journal;
  checkpoints: Checkpoints;
  logger: Logger;
}

export class Retention {
  /** Agents whose prune waits for the next flush. */
  private readonly due = new Set<string>();

  constructor(private readonly deps: RetentionDeps) {}

  /** A checkpoint of `agent` was queued: under `checkpoints`, its journal before the oldest kept one goes. */
  kept(agent: string): void {
    if (this.deps.policy !== 'checkpoints' || this.due.has(agent)) return;
    this.due.add(agent);
    void this.deps.store
      .flushed()
      .then(() => {
        this.due.delete(agent);
        const oldest = this.deps.checkpoints.oldest(agent);
        if (!oldest) return;
        if (this.deps.archiveDir !== null) {
          const entries = this.deps.journal.pruned(agent, oldest.seq);
          if (entries.length === 0) return;
          // Written and synced first: if it cannot be, nothing is pruned (the error is logged).
          const name = `${agent}-${entries[0]!.seq}-${entries.at(-1)!.seq}.journal`;
          mkdirSync(this.deps.archiveDir, { recursive: true });
          writeFileDurably(
            join(this.deps.archiveDir, name),
            encodeJournalArchive({ agent, archivedAt: Date.now(), agentos: agentosVersion(), entries }),
          );
        }
        this.deps.journal.prune(agent, oldest.seq);
      })
      .catch((e: unknown) => {
        this.due.delete(agent);
        this.deps.logger.warn({ agent, err: (e as Error).message }, 'its journal could not be pruned');
      });
  }
}
