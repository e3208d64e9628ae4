/**
 * A read-only reader of LMDB's data file that never maps it: it reads pages with pread and checks
 * each one before it trusts it, so a damaged file yields sentences to report instead of a SIGBUS
 * or a SIGSEGV inside LMDB. Used to check a data dir before LMDB opens it (data-dir.ts) and by
 * `agentos doctor` to walk and salvage one.
 *
 * The layout is the one the LMDB inside lmdb-js 3.5.6 writes (0.9.90, mdb.master3, 64-bit),
 * read from its mdb.c and checked against files it wrote. Every page starts with a 24-byte
 * header: pgno u64 @0, txnid u64 @8, pad u16 @16, flags u16 @18, then lower u16 @20 and upper
 * u16 @22 (an overflow page's page count, u32 @20). Pages 0 and 1 are meta pages: after the
 * header, magic u32 @24 (0xBEEFC0DE), version u32 @28 (2), fixed address @32, mapsize u64 @40,
 * the free-page and main MDB_db records (48 bytes each) @48 and @96, last page u64 @144, txnid
 * u64 @152. An MDB_db record: pad u32 @0 (the page size, in the free-page record), flags u16 @4,
 * depth u16 @6, branch, leaf and overflow page counts u64 @8/@16/@24, entries u64 @32, root
 * u64 @40 (all ones: empty). Branch and leaf pages hold `lower / 2` node offsets after the header,
 * each relative to the end of the header; a node is lo u16, hi u16, flags u16, key size u16, the
 * key, then its data (a leaf: `lo | hi << 16` bytes, or an overflow page number with F_BIGDATA,
 * or a named database's MDB_db record with F_SUBDATA); a branch node's child page is
 * `lo | hi << 16 | flags << 32`.
 *
 * @example
 * const file = PageFile.open('.agentos/db/data.mdb');
 * const { pages, newest } = file.metas();   // each a Meta, or a sentence saying what is wrong
 * file.close();
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

/** Bytes of a page header. */
export const HEADER = 24;
/** Page types (LMDB's P_*), and the bits of a page's flags that hold the type. */
export const P_BRANCH = 0x01;
export const P_LEAF = 0x02;
export const P_OVERFLOW = 0x04;
const P_META = 0x08;
export const P_TYPES = 0x6f;
/** Leaf node flags (LMDB's F_*). */
export const F_BIGDATA = 0x01;
export const F_SUBDATA = 0x02;
export const F_DUPDATA = 0x04;
/** LMDB's MDB_DUPSORT: values kept as sub-trees, which this reader does not read. */
export const MDB_DUPSORT = 0x04;
const MAGIC = 0xbeefc0de;
const DATA_VERSION = 2;

/** One MDB_db record: a tree's root and counts. */
export interface DbRecord {
  flags: number;
  depth: number;
  entries: number;
  /** The root page, or null for an empty tree. */
  root: number | null;
}

/** One valid meta page. */
export interface Meta {
  page: number;
  pageSize: number;
  lastPage: number;
  txnid: number;
  free: DbRecord;
  main: DbRecord;
}

/** A u64 as a number; NaN past 2^53 (no real page number or count is that large). */
export function u64(b: Buffer, at: number): number {
  const hi = b.readUInt32LE(at + 4);
  return hi >= 0x200000 ? Number.NaN : hi * 0x1_0000_0000 + b.readUInt32LE(at);
}

/** The MDB_db record at `at`. */
export function dbRecord(b: Buffer, at: number): DbRecord {
  const allOnes = b.readUInt32LE(at + 40) === 0xffffffff && b.readUInt32LE(at + 44) === 0xffffffff;
  return {
    flags: b.readUInt16LE(at + 4),
    depth: b.readUInt16LE(at + 6),
    entries: u64(b, at + 32),
    root: allOnes ? null : u64(b, at + 40),
  };
}

/** What is wrong with a tree record, or undefined. */
function badRecord(db: DbRecord, lastPage: number): string | undefined {
  if (!Number.isSafeInteger(db.entries)) return 'its entry count is garbled';
  if (db.root === null) return db.depth === 0 ? undefined : 'it is empty yet names a depth';
  if (!(Number.isSafeInteger(db.root) && db.root >= 2 && db.root <= lastPage))
    return `its root page ${db.root} is out of range (the last page is ${lastPage})`;
  if (db.depth < 1 || db.depth > 64) return `its depth ${db.depth} is garbled`;
  return undefined;
}

/** Parses the meta page found at the start of `b`; a sentence if it is not a valid one. */
export function parseMeta(b: Buffer, page: number): Meta | string {
  const where = `meta page ${page}`;
  if (b.length < HEADER + 144) return `${where} is cut short`;
  if (!(b.readUInt16LE(18) & P_META)) return `${where} is not marked as a meta page`;
  if (b.readUInt32LE(24) !== MAGIC) return `${where} lacks LMDB's magic number`;
  const version = b.readUInt32LE(28) & 0xffff;
  if (version !== DATA_VERSION)
    return `${where} is LMDB data format ${version}; this build reads format ${DATA_VERSION}`;
  const free = dbRecord(b, 48);
  const main = dbRecord(b, 96);
  const pageSize = b.readUInt32LE(48);
  const lastPage = u64(b, 144);
  const txnid = u64(b, 152);
  if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0)
    return `${where} names a garbled page size (${pageSize})`;
  if (!(Number.isSafeInteger(lastPage) && lastPage >= 1)) return `${where} names a garbled last page`;
  if (!Number.isSafeInteger(txnid)) return `${where} names a garbled transaction id`;
  const bad = badRecord(free, lastPage) ?? badRecord(main, lastPage);
  if (bad) return `${where} is garbled: ${bad}`;
  return { page, pageSize, lastPage, txnid, free, main };
}

/** The data file, read page by page. */
export class PageFile {
  /** The page size, known once a meta page was read (`metas`). */
  pageSize = 4096;

  private constructor(
    private readonly fd: number,
    /** The file's length in bytes. */
    readonly size: number,
  ) {}

  /** Opens the file read-only (fs errors are thrown as they are). */
  static open(path: string): PageFile {
    const fd = openSync(path, 'r');
    return new PageFile(fd, fstatSync(fd).size);
  }

  /** Whole pages in the file. */
  get pages(): number {
    return Math.floor(this.size / this.pageSize);
  }

  /** `length` bytes at `offset`, fewer where the file ends. */
  read(offset: number, length: number): Buffer {
    const b = Buffer.allocUnsafe(Math.max(0, Math.min(length, this.size - offset)));
    let done = 0;
    while (done < b.length) {
      const n = readSync(this.fd, b, done, b.length - done, offset + done);
      if (n === 0) break;
      done += n;
    }
    return done === b.length ? b : b.subarray(0, done);
  }

  /** Fills `b` from `offset` (the caller checked that it lies in the file). */
  readInto(b: Buffer, offset: number): void {
    readSync(this.fd, b, 0, b.length, offset);
  }

  /**
   * Both meta pages and the newest valid one (what LMDB would use). A meta page that does not
   * parse is a sentence; `newest` is a sentence when neither parses.
   */
  metas(): { pages: (Meta | string)[]; newest: Meta | string } {
    const first = parseMeta(this.read(0, 512), 0);
    const second = typeof first === 'string' ? this.findSecond() : this.second(first);
    const usable = [first, second].filter((m): m is Meta => typeof m !== 'string');
    const newest = usable.sort((a, b) => b.txnid - a.txnid)[0] ?? 'neither meta page is valid';
    if (typeof newest !== 'string') this.pageSize = newest.pageSize;
    return { pages: [first, second], newest };
  }

  private second(first: Meta): Meta | string {
    const m = parseMeta(this.read(first.pageSize, 512), 1);
    if (typeof m !== 'string' && m.pageSize !== first.pageSize)
      return 'meta page 1 names another page size than meta page 0';
    return m;
  }

  /** Page 1 when page 0 is unreadable: it sits one page in, at whichever page size it names. */
  private findSecond(): Meta | string {
    const usual = parseMeta(this.read(4096, 512), 1);
    if (typeof usual !== 'string' && usual.pageSize === 4096) return usual;
    for (let size = 512; size <= 65536; size *= 2) {
      const m = parseMeta(this.read(size, 512), 1);
      if (typeof m !== 'string' && m.pageSize === size) return m;
    }
    return typeof usual === 'string' ? usual : 'meta page 1 is not where its page size puts it';
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** Pages already reached, across the trees of one snapshot: each page is in use at most once. */
export class SeenPages {
  private readonly bits: Uint8Array;
  constructor(pages: number) {
    this.bits = new Uint8Array(Math.ceil(pages / 8));
  }
  /** Marks the page; false if it was marked already. */
  mark(p: number): boolean {
    const i = p >> 3;
    const bit = 1 << (p & 7);
    if ((this.bits[i]! & bit) !== 0) return false;
    this.bits[i]! |= bit;
    return true;
  }
}
