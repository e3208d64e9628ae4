/**
 * What a data dir must hold before LMDB may map its environment, and the format marker.
 *
 * LMDB trusts its file: a truncated data.mdb dies of SIGBUS, garbled meta pages of SIGSEGV, and
 * a missing or empty one is silently created anew — an empty kernel in a home whose agents are
 * gone. So before LMDB opens a data dir it is checked here with plain reads (lmdb-pages.ts):
 * the marker, both meta pages, the file's length against the pages in use, the branch pages of
 * every tree and the header of every leaf (up to LEAF_BUDGET leaves, smallest trees first).
 * A damaged or mismatched dir is refused with AOS_E_DATA_DIR, `details.problem` saying what is
 * wrong, and nothing in it is changed.
 *
 * `<home>/FORMAT` is written with the database (`{"agentos":"data-dir","format":1}`); a home that
 * has it, or has `components/`, must have its database: a fresh one is never made there.
 *
 * @example
 * const plan = checkDataDir('/var/agentos');   // throws AOS_E_DATA_DIR if damaged
 * if (plan.writeMarker) writeMarker('/var/agentos');   // after LMDB made or opened it
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../base/atomic-write.js';
import { AgentOSError } from '../base/errors.js';
import { PageFile } from './lmdb-pages.js';
import { walkSnapshot } from './lmdb-snapshot.js';

/**
 * Leaf headers checked at open, smallest trees first (1 GiB of 4 KiB pages): each costs a read
 * (measured: 242 MB, 57,000 leaves, in 0.4–0.6 s on two loaded cores), and a journal may hold most
 * of a big file; past the budget, a tree's leaves are left to LMDB's own checks and the doctor.
 */
export const LEAF_BUDGET = 262_144;

/** The marker's file name in a home, and the format this build reads and writes. */
export const MARKER = 'FORMAT';
export const FORMAT = 1;

/** What is wrong with a data dir: `details.problem` of its AOS_E_DATA_DIR. */
export type DataDirProblem =
  | 'not-a-directory'
  | 'cannot-create'
  | 'cannot-lock'
  | 'in-use'
  | 'marker'
  | 'format'
  | 'database-missing'
  | 'unreadable'
  | 'truncated'
  | 'meta-page'
  | 'page'
  | 'lmdb';

/** Problems a doctor can say more about (the others are about the path, not its contents). */
const DAMAGE: ReadonlySet<DataDirProblem> = new Set([
  'marker',
  'database-missing',
  'truncated',
  'meta-page',
  'page',
  'lmdb',
]);

/** AOS_E_DATA_DIR for `home`: the sentence, then, for damage, that nothing changed and what to run. */
export function dataDirError(
  home: string,
  problem: DataDirProblem,
  sentence: string,
  details: Record<string, unknown> = {},
  cause?: unknown,
): AgentOSError {
  const advice = DAMAGE.has(problem)
    ? `. Nothing in it was changed. \`agentos doctor --home ${home}\` reports what is readable, and \`--salvage DIR\` copies that into a fresh data dir (docs/recovery.md)`
    : '';
  return new AgentOSError(
    'AOS_E_DATA_DIR',
    `data dir ${home}: ${sentence}${advice}`,
    { home, problem, ...details },
    cause === undefined ? undefined : { cause },
  );
}

/** The marker's format, null when there is none; AOS_E_DATA_DIR if it is unreadable or not ours. */
export function readMarker(home: string): number | null {
  const path = join(home, MARKER);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw dataDirError(home, 'marker', `cannot read ${MARKER}: ${(e as Error).message}`, {}, e);
  }
  let marker: unknown;
  try {
    marker = JSON.parse(text);
  } catch {
    marker = undefined;
  }
  const m = marker as { agentos?: unknown; format?: unknown } | undefined;
  if (m?.agentos !== 'data-dir' || !Number.isInteger(m.format))
    throw dataDirError(home, 'marker', `${MARKER} is damaged (it should read ${markerText().trim()})`);
  return m.format as number;
}

function markerText(): string {
  return `${JSON.stringify({ agentos: 'data-dir', format: FORMAT })}\n`;
}

/** Writes the marker (whole or not at all). */
export function writeMarker(home: string): void {
  writeFileAtomic(join(home, MARKER), markerText());
}

/** What Store.open does after the check. */
export interface Plan {
  /** The marker is missing (a new home, or one an older AgentOS made): write it once LMDB is open. */
  writeMarker: boolean;
}

/** Checks the data dir at `home` (which exists) before LMDB opens it; throws AOS_E_DATA_DIR. */
export function checkDataDir(home: string): Plan {
  const format = readMarker(home);
  if (format !== null && format !== FORMAT)
    throw dataDirError(
      home,
      'format',
      `${MARKER} says format ${format}; this AgentOS reads format ${FORMAT}. Open it with the AgentOS that wrote it`,
      { format },
    );
  const data = join(home, 'db', 'data.mdb');
  const st = statSync(data, { throwIfNoEntry: false });
  if (st && !st.isFile()) throw dataDirError(home, 'database-missing', 'db/data.mdb is not a file');
  if (!st || st.size === 0) {
    const what = st ? 'is empty' : 'is missing';
    if (format !== null)
      throw dataDirError(
        home,
        'database-missing',
        `db/data.mdb ${what}, but ${MARKER} says a database was made here; its records would be lost`,
      );
    const components = join(home, 'components');
    if (existsSync(components)) {
      const n = readdirSync(components).length;
      throw dataDirError(
        home,
        'database-missing',
        `db/data.mdb ${what}, but components/ holds ${n} file${n === 1 ? '' : 's'}: the agents that ran them would be lost`,
      );
    }
    return { writeMarker: true };
  }
  checkDatabase(home, data);
  return { writeMarker: format === null };
}

/** The meta pages, the length, the branch pages and the leaf headers of db/data.mdb. */
function checkDatabase(home: string, data: string): void {
  let file: PageFile;
  try {
    file = PageFile.open(data);
  } catch (e) {
    throw dataDirError(home, 'unreadable', `cannot read db/data.mdb: ${(e as Error).message}`, {}, e);
  }
  try {
    const { pages, newest } = file.metas();
    const pageSize = typeof newest === 'string' ? 4096 : newest.pageSize;
    if (file.size < 2 * pageSize)
      throw dataDirError(
        home,
        'truncated',
        `db/data.mdb is ${file.size} bytes, shorter than its two meta pages (${2 * pageSize}): it was cut short`,
        { bytes: file.size },
      );
    const bad = pages.filter((p): p is string => typeof p === 'string');
    if (typeof newest === 'string' || bad.length > 0)
      throw dataDirError(home, 'meta-page', `db/data.mdb is damaged: ${bad.join('; ')}`, {
        intact: pages.filter((p) => typeof p !== 'string').length,
      });
    // LMDB notes the file may end before the last page when the pages past its end are free;
    // only then does the whole tree need reading to tell that from a cut.
    const short = file.size < (newest.lastPage + 1) * pageSize;
    const walk = walkSnapshot(file, newest, { leaves: short ? 'all' : 'headers', leafBudget: LEAF_BUDGET });
    const expected = { bytes: file.size, needed: (newest.lastPage + 1) * pageSize };
    if (walk.truncated)
      throw dataDirError(
        home,
        'truncated',
        `db/data.mdb is ${file.size} bytes, but pages in use lie past its end (its newest meta page names pages up to ${newest.lastPage}, ${expected.needed} bytes): it was cut short`,
        expected,
      );
    if (walk.errorCount > 0) {
      const first = [...walk.structure.errors, ...walk.databases.flatMap((d) => d.errors)].slice(0, 3);
      throw dataDirError(home, 'page', `db/data.mdb is damaged: ${first.join('; ')}`, {
        errors: walk.errorCount,
      });
    }
  } finally {
    file.close();
  }
}

/** Whether `e` is LMDB's report of a failure (an `MDB_…` error: a damaged page, a bad transaction). */
export function isLmdbError(e: unknown): e is Error & { code?: number } {
  return e instanceof Error && /^MDB_[A-Z_]+/.test(e.message);
}
