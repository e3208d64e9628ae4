/**
 * Test helpers for damaged data dirs: a home a real kernel filled, ways to damage its data.mdb,
 * the place of a database's pages, hashes of every file (to show a refusal changed nothing), and
 * a run of data-dir-child.ts (a damaged open in its own process).
 *
 * @example
 * const home = copyHome(await filledHome());
 * garblePage(home, (await treeOf(home, 'mailbox')).root!);
 * const r = await openInChild('store', home);   // r.out.problem === 'page'
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, cpSync, openSync, readdirSync, readFileSync, statSync, writeSync } from 'node:fs';
import { join, relative } from 'node:path';
import { packageRoot } from '../kernel/base/paths.js';
import { type DbRecord, PageFile, u64 } from '../kernel/store/lmdb-pages.js';
import { walkTree } from '../kernel/store/lmdb-tree.js';
import { fixture, openKernel, PROBE_GRANTS, tempHome } from './harness.js';

const CHILD = join(packageRoot(), 'dist', 'testing', 'data-dir-child.js');

/** What a child opening a data dir did: its exit, and what it printed. */
export interface ChildRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: Record<string, unknown> | undefined;
  stderr: string;
}

/** Runs data-dir-child.js `mode` on `home` (stdin closed at once: 'hold' lets go). */
export function openInChild(mode: string, home: string, ...rest: string[]): Promise<ChildRun> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [CHILD, mode, home, ...rest], (err, stdout, stderr) => {
      const line = stdout.trim().split('\n').pop();
      let out: Record<string, unknown> | undefined;
      try {
        out = line ? (JSON.parse(line) as Record<string, unknown>) : undefined;
      } catch {
        out = undefined;
      }
      const e = err as (Error & { code?: number; signal?: NodeJS.Signals }) | null;
      resolve({ code: e ? (e.code ?? null) : 0, signal: e?.signal ?? null, out, stderr });
    });
    child.stdin?.end();
  });
}

/** The agents, queued messages and working memory a home holds after `filledHome`. */
export const FILLED = { messages: 300, keys: 150 };

let filled: { home: string; agent: string } | undefined;

/**
 * A data dir a real kernel filled, made once per test file: one probe agent, suspended, with
 * FILLED.keys working-memory keys and FILLED.messages queued messages. Copy it before damaging.
 */
export async function filledHome(): Promise<{ home: string; agent: string }> {
  if (filled) return filled;
  const home = tempHome();
  const kernel = await openKernel({ home });
  const agent = await kernel.spawn(await fixture('probe'), { grants: PROBE_GRANTS, name: 'keeper' });
  const calls = Array.from({ length: FILLED.keys }, (_, i) => [
    'set',
    `key-${i}`,
    `value-${i}-${'v'.repeat(80)}`,
  ]);
  await kernel.send(agent, { op: 'wm', calls });
  kernel.suspend(agent);
  for (let i = 0; i < FILLED.messages; i++) kernel.post(agent, { op: 'echo', n: i, pad: 'm'.repeat(60) });
  await kernel.flushed();
  await kernel.close();
  filled = { home, agent };
  return filled;
}

/** A fresh copy of a data dir. */
export function copyHome(home: string): string {
  const to = tempHome('agentos-damaged-');
  cpSync(home, to, { recursive: true });
  return to;
}

const dataFile = (home: string): string => join(home, 'db', 'data.mdb');

/** Overwrites one page of data.mdb with a fixed pattern of junk (the same every run). */
export function garblePage(home: string, page: number, pageSize = 4096): void {
  const junk = Buffer.alloc(pageSize);
  let x = 0x9e3779b9 ^ page;
  for (let i = 0; i < pageSize; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    junk[i] = x >>> 24;
  }
  writeAt(dataFile(home), page * pageSize, junk);
}

/**
 * Makes the first record of leaf `page` claim its value lies on an overflow page past the end:
 * the page header stays intact, so only reading that record finds it (LMDB: MDB_PAGE_NOTFOUND).
 */
export function pointAtMissingPage(home: string, page: number, pageSize = 4096): void {
  const b = readFileSync(dataFile(home)).subarray(page * pageSize, (page + 1) * pageSize);
  const node = 24 + b.readUInt16LE(24);
  const data = node + 8 + b.readUInt16LE(node + 6);
  const patch = Buffer.alloc(8);
  patch.writeUInt32LE(0x7fff_fff0, 0);
  writeAt(dataFile(home), page * pageSize + node + 4, Buffer.from([0x01, 0x00])); // F_BIGDATA
  writeAt(dataFile(home), page * pageSize + data, patch);
}

/** Zeroes `length` bytes of data.mdb from `offset`. */
export function zeroBytes(home: string, offset: number, length: number): void {
  writeAt(dataFile(home), offset, Buffer.alloc(length));
}

function writeAt(path: string, offset: number, bytes: Buffer): void {
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, bytes, 0, bytes.length, offset);
  } finally {
    closeSync(fd);
  }
}

/** The record (root, depth) of named database `name` in the newest snapshot. */
export function treeOf(home: string, name: string): DbRecord {
  const file = PageFile.open(dataFile(home));
  try {
    const { newest } = file.metas();
    if (typeof newest === 'string') throw new Error(newest);
    let found: DbRecord | undefined;
    walkTree(file, newest, newest.main, 'main', {
      onDatabase: (key, db) => {
        if (key.toString('utf8').replace(/\0$/, '') === name) found = db;
      },
    });
    if (!found) throw new Error(`no database ${name}`);
    return found;
  } finally {
    file.close();
  }
}

/** The child pages a branch page names, in order. */
export function childrenOf(home: string, page: number, pageSize = 4096): number[] {
  const b = readFileSync(dataFile(home)).subarray(page * pageSize, (page + 1) * pageSize);
  const n = b.readUInt16LE(20) >> 1;
  return Array.from({ length: n }, (_, i) => {
    const at = 24 + b.readUInt16LE(24 + 2 * i);
    return (b.readUInt16LE(at) | (b.readUInt16LE(at + 2) << 16)) + b.readUInt16LE(at + 4) * 2 ** 32;
  });
}

/** The newest meta page's last page in use. */
export function lastPage(home: string): number {
  const b = readFileSync(dataFile(home)).subarray(0, 8192);
  const at = (page: number) => page * 4096 + 24;
  const [a, c] = [at(0), at(1)];
  return u64(b, u64(b, a + 128) > u64(b, c + 128) ? a + 120 : c + 120);
}

/** sha256 of every file under `dir`, by relative path. */
export function fileHashes(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out[relative(dir, p)] = createHash('sha256').update(readFileSync(p)).digest('hex');
    }
  };
  walk(dir);
  return out;
}
