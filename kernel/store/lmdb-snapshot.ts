/**
 * One snapshot of LMDB's file, walked (lmdb-tree.ts walks each tree): the free-page tree, the
 * main tree and every named database the main tree lists, all read with plain reads, so damage
 * is described, never a crash. What data-dir.ts checks at open and what `agentos doctor` reads.
 *
 * @example
 * const file = PageFile.open('.agentos/db/data.mdb');
 * const { newest } = file.metas();
 * if (typeof newest !== 'string') {
 *   const report = walkSnapshot(file, newest, { onRecord: (db, key, value) => copy(db, key, value) });
 * }
 */
import { type DbRecord, MDB_DUPSORT, type Meta, type PageFile, SeenPages } from './lmdb-pages.js';
import { checkLeaves, KEEP_ERRORS, type TreeReport, walkTree } from './lmdb-tree.js';

/** One named database, as a walk found it. */
export interface DatabaseReport extends TreeReport {
  name: string;
  /** The entry count its record names (what LMDB believes it holds). */
  entries: number;
}

/** One snapshot, walked. */
export interface SnapshotReport {
  /** Errors in the free-page and main trees (the named databases' are in theirs). */
  structure: TreeReport;
  databases: DatabaseReport[];
  /** Whether some page in use lies past the end of the file. */
  truncated: boolean;
  /** The highest page in use (1, the second meta page, when the trees are empty). */
  highest: number;
  /** With `leaves: 'headers'`: leaf pages left unchecked, past the budget. */
  unchecked: number;
  /** Errors in all. */
  errorCount: number;
}

/** The name under which the records of LMDB's main tree itself are reported (not a named database). */
export const MAIN_RECORDS = '';

/** Options of walkSnapshot. */
export interface SnapshotOptions {
  /** Every readable record, with its database's name (MAIN_RECORDS: the main tree's own). */
  onRecord?: (db: string, key: Buffer, value: Buffer) => void;
  /** Each named database, before its records. */
  onDatabase?: (name: string) => void;
  /**
   * 'headers': the main tree is read in full, the other trees' branch pages too, and of their
   * leaves only the headers, smallest tree first, up to `leafBudget` leaves in all. Records are
   * then not counted.
   */
  leaves?: 'all' | 'headers';
  leafBudget?: number;
}

/** Walks the snapshot `meta` names; without `onRecord`, values are not read, only checked. */
export function walkSnapshot(file: PageFile, meta: Meta, o: SnapshotOptions = {}): SnapshotReport {
  const leaves = o.leaves ?? 'all';
  const seen = new SeenPages(file.pages);
  const onRecord = o.onRecord;
  const free = walkTree(file, meta, meta.free, 'the free-page tree', { seen, leaves });
  const named: { name: string; db: DbRecord }[] = [];
  const main = walkTree(file, meta, meta.main, 'the main tree', {
    seen,
    onDatabase: (key, db) => {
      const end = key.length > 0 && key[key.length - 1] === 0 ? key.length - 1 : key.length;
      named.push({ name: key.subarray(0, end).toString('utf8'), db });
    },
    ...(onRecord ? { onRecord: (k: Buffer, v: Buffer) => onRecord(MAIN_RECORDS, k, v) } : {}),
  });
  const databases = named.map(({ name, db }): DatabaseReport => {
    const what = `database ${JSON.stringify(name)}`;
    o.onDatabase?.(name);
    const base = { name, entries: db.entries };
    if ((db.flags & MDB_DUPSORT) !== 0) {
      const sentence = `${what}: it keeps duplicates, which this reader does not read`;
      return { ...base, records: 0, errors: [sentence], errorCount: 1, truncated: false, highest: -1 };
    }
    const r = walkTree(file, meta, db, what, {
      seen,
      leaves,
      ...(onRecord ? { onRecord: (k: Buffer, v: Buffer) => onRecord(name, k, v) } : {}),
    });
    return { ...base, ...(leaves === 'all' ? count(r, db, what) : r) };
  });
  let unchecked = 0;
  if (leaves === 'headers') {
    // Small trees first: the ones read whole when the kernel opens (process table, mailboxes,
    // events) are small; a journal may be most of the file.
    const trees = [
      { r: free, what: 'the free-page tree' },
      ...databases.map((d) => ({ r: d as TreeReport, what: `database ${JSON.stringify(d.name)}` })),
    ].sort((a, b) => (a.r.leaves?.length ?? 0) - (b.r.leaves?.length ?? 0));
    let budget = o.leafBudget ?? Number.POSITIVE_INFINITY;
    for (const { r, what } of trees) {
      const n = r.leaves?.length ?? 0;
      if (n <= budget) {
        budget -= n;
        checkLeaves(file, r, what);
      } else {
        unchecked += n;
        delete r.leaves;
      }
    }
  }
  const structure: TreeReport = { records: 0, errors: [], errorCount: 0, truncated: false, highest: 1 };
  for (const r of [
    leaves === 'all' ? count(free, meta.free, 'the free-page tree') : free,
    count(main, meta.main, 'the main tree'),
  ]) {
    structure.errors.push(...r.errors.slice(0, KEEP_ERRORS - structure.errors.length));
    structure.errorCount += r.errorCount;
    structure.truncated ||= r.truncated;
    structure.highest = Math.max(structure.highest, r.highest);
  }
  const truncated = structure.truncated || databases.some((d) => d.truncated);
  const highest = databases.reduce((n, d) => Math.max(n, d.highest), structure.highest);
  const errorCount = structure.errorCount + databases.reduce((n, d) => n + d.errorCount, 0);
  return { structure, databases, truncated, highest, unchecked, errorCount };
}

/** The report, with an error added when an undamaged walk read another count than the record names. */
function count(r: TreeReport, db: DbRecord, what: string): TreeReport {
  if (r.errorCount === 0 && r.records !== db.entries) {
    r.errors.push(`${what}: ${r.records} records read where its record names ${db.entries}`);
    r.errorCount++;
  }
  return r;
}
