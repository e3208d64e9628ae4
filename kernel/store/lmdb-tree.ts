/**
 * Walks LMDB's trees page by page (lmdb-pages.ts reads the pages): every page is checked (its
 * number, its type, its bounds, that it is past the end of no file and reached only once) and
 * every node, and whatever is damaged is skipped and described, so a walk never crashes and
 * reads all that can be read. lmdb-snapshot.ts walks every tree of one snapshot.
 *
 * @example
 * const file = PageFile.open('.agentos/db/data.mdb');
 * const { newest } = file.metas();
 * if (typeof newest !== 'string') walkTree(file, newest, newest.main, 'the main tree', { onDatabase: (name, db) => {} });
 */
import {
  type DbRecord,
  dbRecord,
  F_BIGDATA,
  F_DUPDATA,
  F_SUBDATA,
  HEADER,
  type Meta,
  P_BRANCH,
  P_LEAF,
  P_OVERFLOW,
  P_TYPES,
  type PageFile,
  SeenPages,
  u64,
} from './lmdb-pages.js';

/** What errors a tree walk keeps in full (it counts the rest). */
export const KEEP_ERRORS = 5;

/** What walking one tree found. */
export interface TreeReport {
  /** Records (leaf entries) read. */
  records: number;
  /** The first errors, in full. */
  errors: string[];
  /** How many errors in all. */
  errorCount: number;
  /** Whether some page in use lies past the end of the file. */
  truncated: boolean;
  /** The highest page found in use (-1: none). */
  highest: number;
  /** With `leaves: 'headers'`: the leaf pages whose headers are still to check (checkLeaves). */
  leaves?: { pgno: number; parent: number }[];
}

/** Adds an error to a report (keeping the first few in full). */
function note(r: TreeReport, what: string, sentence: string): undefined {
  if (r.errors.length < KEEP_ERRORS) r.errors.push(`${what}: ${sentence}`);
  r.errorCount++;
  return undefined;
}

export interface WalkOptions {
  /** Each readable record, in key order, with its raw key and value bytes. */
  onRecord?: (key: Buffer, value: Buffer) => void;
  /** Each named database the tree lists (only the main tree lists any). */
  onDatabase?: (name: Buffer, db: DbRecord) => void;
  /** Pages reached so far by other trees of the same snapshot. */
  seen?: SeenPages;
  /**
   * 'headers': read the root and the branch pages in full but of each leaf only its header (that
   * it names itself and is a leaf), in page order: a quicker check, since most pages are leaves
   * and their nodes are not parsed. Records are then not counted. Default 'all'.
   */
  leaves?: 'all' | 'headers';
}

/** A page to visit; `parent` is -1 for the root, else the branch page naming it. */
type Step = { pgno: number; level: number; parent: number };

/** Where a page number was found, for a sentence (built only when one is needed). */
const origin = (parent: number, node = -1): string =>
  parent < 0 ? 'its root' : node < 0 ? `page ${parent}` : `node ${node} of page ${parent}`;

/**
 * Walks a tree from its root, checking every page (number, type, bounds, reached once) and every
 * node, and skipping what is damaged. Values on overflow pages are read only for `onRecord`;
 * otherwise only their first page is checked.
 */
export function walkTree(
  file: PageFile,
  meta: Meta,
  db: DbRecord,
  what: string,
  o: WalkOptions = {},
): TreeReport {
  const r: TreeReport = { records: 0, errors: [], errorCount: 0, truncated: false, highest: -1 };
  const fail = (sentence: string): undefined => note(r, what, sentence);
  const seen = o.seen ?? new SeenPages(file.pages);
  const ps = file.pageSize;
  /** Whether `count` pages from `pgno` may be in use: in range, in the file, reached once. */
  const claim = (pgno: number, count: number, parent: number, node = -1): boolean => {
    if (!(Number.isSafeInteger(pgno) && pgno >= 2 && pgno + count - 1 <= meta.lastPage))
      return !!fail(
        `${origin(parent, node)} names page ${pgno}, out of range (the last page is ${meta.lastPage})`,
      );
    if ((pgno + count) * ps > file.size) {
      r.truncated = true;
      return !!fail(`page ${pgno + count - 1} lies past the end of the file (${file.pages} pages)`);
    }
    for (let p = pgno; p < pgno + count; p++)
      if (!seen.mark(p)) return !!fail(`page ${p} is reached twice (again from ${origin(parent, node)})`);
    r.highest = Math.max(r.highest, pgno + count - 1);
    return true;
  };
  /** `count` pages from `pgno` (`read` of them), or undefined after saying why not. */
  const fetch = (
    pgno: number,
    count: number,
    read: number,
    parent: number,
    node = -1,
  ): Buffer | undefined => {
    if (!claim(pgno, count, parent, node)) return undefined;
    const b = file.read(pgno * ps, read * ps);
    const named = u64(b, 0);
    if (named !== pgno)
      return fail(
        `page ${pgno} is garbled (its header names ${Number.isNaN(named) ? 'no page' : `page ${named}`})`,
      );
    return b;
  };
  if (db.root === null) return r;
  const headersOnly = o.leaves === 'headers';
  const leafPages: { pgno: number; parent: number }[] = [];
  if (headersOnly) r.leaves = leafPages;
  const stack: Step[] = [{ pgno: db.root, level: 1, parent: -1 }];
  for (let step = stack.pop(); step; step = stack.pop()) {
    const leaf = step.level === db.depth;
    const b = fetch(step.pgno, 1, 1, step.parent);
    if (!b) continue;
    const type = b.readUInt16LE(18) & P_TYPES;
    if (type !== (leaf ? P_LEAF : P_BRANCH)) {
      fail(
        `page ${step.pgno} should be a ${leaf ? 'leaf' : 'branch'} page (its type is 0x${type.toString(16)})`,
      );
      continue;
    }
    const lower = b.readUInt16LE(20);
    const upper = b.readUInt16LE(22);
    const n = lower >> 1;
    if (lower % 2 !== 0 || lower > upper || HEADER + upper > ps || (!leaf && n === 0)) {
      fail(`page ${step.pgno} has a garbled header (lower ${lower}, upper ${upper})`);
      continue;
    }
    const children: Step[] = [];
    for (let i = 0; i < n; i++) {
      const at = HEADER + b.readUInt16LE(HEADER + 2 * i);
      if (at < HEADER + upper || at + 8 > ps) {
        fail(`${origin(step.pgno, i)} lies outside its page`);
        continue;
      }
      const size = (b.readUInt16LE(at) | (b.readUInt16LE(at + 2) << 16)) >>> 0;
      const flags = b.readUInt16LE(at + 4);
      const data = at + 8 + b.readUInt16LE(at + 6);
      if (data > ps) {
        fail(`the key of ${origin(step.pgno, i)} runs past its page`);
        continue;
      }
      const key = (): Buffer => Buffer.from(b.subarray(at + 8, data));
      if (!leaf) {
        const child = size + flags * 0x1_0000_0000;
        // A leaf whose header alone is checked waits, to be read in page order.
        if (headersOnly && step.level + 1 === db.depth) {
          if (claim(child, 1, step.pgno, i)) leafPages.push({ pgno: child, parent: step.pgno });
        } else children.push({ pgno: child, level: step.level + 1, parent: step.pgno });
      } else if (flags & F_DUPDATA) {
        fail(`${origin(step.pgno, i)} holds duplicates, which this reader does not read`);
      } else if (flags & F_SUBDATA) {
        if (size !== 48 || data + 48 > ps) fail(`${origin(step.pgno, i)} has a garbled database record`);
        else {
          o.onDatabase?.(key(), dbRecord(b, data));
          r.records++;
        }
      } else if (flags & F_BIGDATA) {
        if (data + 8 > ps) {
          fail(`${origin(step.pgno, i)} runs past its page`);
          continue;
        }
        const first = u64(b, data);
        const count = Math.ceil((HEADER + size) / ps);
        const over = fetch(first, count, o.onRecord ? count : 1, step.pgno, i);
        if (!over) continue;
        if ((over.readUInt16LE(18) & P_TYPES) !== P_OVERFLOW || over.readUInt32LE(20) < count) {
          fail(`page ${first} should start a run of ${count} overflow pages`);
          continue;
        }
        o.onRecord?.(key(), Buffer.from(over.subarray(HEADER, HEADER + size)));
        r.records++;
      } else if (data + size > ps) {
        fail(`the value of ${origin(step.pgno, i)} runs past its page`);
      } else {
        o.onRecord?.(key(), Buffer.from(b.subarray(data, data + size)));
        r.records++;
      }
    }
    for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]!);
  }
  return r;
}

/** Checks the headers of the leaves a `leaves: 'headers'` walk left (that each names itself and is a leaf), in page order. */
export function checkLeaves(file: PageFile, r: TreeReport, what: string): void {
  const h = Buffer.alloc(HEADER);
  for (const { pgno, parent } of (r.leaves ?? []).sort((a, b) => a.pgno - b.pgno)) {
    file.readInto(h, pgno * file.pageSize);
    const named = u64(h, 0);
    const type = h.readUInt16LE(18) & P_TYPES;
    if (named !== pgno)
      note(r, what, `page ${pgno} is garbled (its header names ${pageName(named)}; from page ${parent})`);
    else if (type !== P_LEAF)
      note(r, what, `page ${pgno} should be a leaf page (its type is 0x${type.toString(16)})`);
  }
  delete r.leaves;
}

const pageName = (n: number): string => (Number.isNaN(n) ? 'no page' : `page ${n}`);
