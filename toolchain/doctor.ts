/**
 * `agentos doctor`: checks a data dir without letting LMDB map it, and copies out what is
 * readable. The checks: the format marker, both meta pages, the file's length, then every page
 * of every tree and every record of every named database (lmdb-snapshot.ts reads them with plain
 * reads, so damage is reported, never a crash), and the component files against their digests.
 * With `salvage`, every readable record of every database and every intact component goes into
 * a fresh data dir that the kernel opens. See docs/recovery.md.
 *
 * @example
 * const report = await doctor('/var/agentos');            // report.healthy, report.problems
 * await doctor('/var/agentos', { salvage: '/var/agentos-saved' });
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import { AgentOSError } from '../kernel/base/errors.js';
import { FORMAT, MARKER, readMarker } from '../kernel/store/data-dir.js';
import { type Meta, PageFile } from '../kernel/store/lmdb-pages.js';
import { walkSnapshot } from '../kernel/store/lmdb-snapshot.js';
import { HomeLock } from '../kernel/store/lock.js';
import { Salvage, type SalvageReport } from './salvage.js';

/** What `agentos doctor` prints. */
export interface DoctorReport {
  home: string;
  healthy: boolean;
  /** One sentence per problem found; empty when healthy. */
  problems: string[];
  marker: { format: number | null; ok: boolean };
  database: {
    /** 'missing' and 'empty' are healthy only in a home that holds nothing else yet. */
    state: 'present' | 'missing' | 'empty';
    bytes: number;
    pageSize?: number;
    lastPage?: number;
    metaPages: { page: number; ok: boolean; txnid?: number; problem?: string }[];
    truncated: boolean;
  };
  /** Every named database: the entries its record names, the records read, the first errors. */
  databases: { name: string; entries: number; read: number; errorCount: number; errors: string[] }[];
  components: { files: number; damaged: string[] };
  salvage?: SalvageReport;
}

/** Checks the data dir at `home` (holding its lock meanwhile), and salvages it into `o.salvage`. */
export async function doctor(home: string, o: { salvage?: string } = {}): Promise<DoctorReport> {
  const abs = resolve(home);
  if (!statSync(abs, { throwIfNoEntry: false })?.isDirectory())
    throw new AgentOSError('AOS_E_DATA_DIR', `no data dir at ${abs}`, {
      home: abs,
      problem: 'not-a-directory',
    });
  const to = o.salvage === undefined ? undefined : resolve(o.salvage);
  if (to !== undefined && (to === abs || to.startsWith(abs + sep)))
    throw new AgentOSError('AOS_E_BAD_ARGUMENT', `--salvage ${to} is inside the data dir it salvages`);
  const salvage = to === undefined ? undefined : await Salvage.start(to);
  const lock = await HomeLock.acquire(abs).catch(async (e: unknown) => {
    await salvage?.abandon();
    throw e;
  });
  try {
    const r: DoctorReport = {
      home: abs,
      healthy: false,
      problems: [],
      marker: checkMarker(abs),
      database: { state: 'missing', bytes: 0, metaPages: [], truncated: false },
      databases: [],
      components: { files: 0, damaged: [] },
    };
    if (!r.marker.ok)
      r.problems.push(
        r.marker.format === null
          ? `${MARKER} is damaged`
          : `${MARKER} says format ${r.marker.format}; this AgentOS reads format ${FORMAT}`,
      );
    checkDatabase(abs, r, salvage);
    checkComponents(abs, r, salvage);
    if (r.database.state !== 'present' && (r.marker.format !== null || existsSync(join(abs, 'components'))))
      r.problems.push(`db/data.mdb is ${r.database.state}, but this home held a database`);
    if (salvage) r.salvage = await salvage.finish();
    r.healthy = r.problems.length === 0;
    return r;
  } catch (e) {
    await salvage?.abandon();
    throw e;
  } finally {
    lock.release();
  }
}

function checkMarker(home: string): DoctorReport['marker'] {
  try {
    const format = readMarker(home);
    return { format, ok: format === null || format === FORMAT };
  } catch {
    return { format: null, ok: false };
  }
}

/** The meta pages, the length and every tree and record of db/data.mdb. */
function checkDatabase(home: string, r: DoctorReport, salvage: Salvage | undefined): void {
  const path = join(home, 'db', 'data.mdb');
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) return;
  r.database.bytes = st.size;
  if (st.size === 0) {
    r.database.state = 'empty';
    return;
  }
  r.database.state = 'present';
  let file: PageFile;
  try {
    file = PageFile.open(path);
  } catch (e) {
    r.problems.push(`cannot read db/data.mdb: ${(e as Error).message}`);
    return;
  }
  try {
    const { pages, newest } = file.metas();
    r.database.metaPages = pages.map((m, page) =>
      typeof m === 'string' ? { page, ok: false, problem: m } : { page, ok: true, txnid: m.txnid },
    );
    for (const m of pages) if (typeof m === 'string') r.problems.push(`db/data.mdb: ${m}`);
    if (file.size < 2 * file.pageSize)
      r.problems.push(`db/data.mdb is ${file.size} bytes, shorter than its two meta pages`);
    if (typeof newest === 'string') return;
    walk(file, newest, r, salvage);
  } finally {
    file.close();
  }
}

/** Reads every record of the snapshot `meta` names (into the salvage, if any). */
function walk(file: PageFile, meta: Meta, r: DoctorReport, salvage: Salvage | undefined): void {
  r.database.pageSize = meta.pageSize;
  r.database.lastPage = meta.lastPage;
  const snapshot = walkSnapshot(file, meta, {
    ...(salvage ? { onRecord: (db: string, key: Buffer, value: Buffer) => salvage.put(db, key, value) } : {}),
    onDatabase: salvage ? (name: string) => salvage.database(name) : undefined,
  });
  r.database.truncated = snapshot.truncated;
  if (snapshot.truncated)
    r.problems.push(
      `db/data.mdb is ${file.size} bytes, but pages in use lie past its end (its newest meta page names pages up to ${meta.lastPage}): it was cut short`,
    );
  r.problems.push(...snapshot.structure.errors);
  if (snapshot.structure.errorCount > snapshot.structure.errors.length)
    r.problems.push(
      `${snapshot.structure.errorCount - snapshot.structure.errors.length} more errors in the tree structure`,
    );
  for (const d of snapshot.databases) {
    r.databases.push({
      name: d.name,
      entries: d.entries,
      read: d.records,
      errorCount: d.errorCount,
      errors: d.errors,
    });
    if (d.errorCount > 0)
      r.problems.push(
        `database ${JSON.stringify(d.name)}: ${d.errorCount} error${d.errorCount === 1 ? '' : 's'}; ${d.records} of ${d.entries} records readable`,
      );
  }
}

/** Component files must match the digest they are named by. */
function checkComponents(home: string, r: DoctorReport, salvage: Salvage | undefined): void {
  const dir = join(home, 'components');
  if (!existsSync(dir)) return;
  for (const name of readdirSync(dir).sort()) {
    r.components.files++;
    const m = /^([0-9a-f]{64})\.wasm$/.exec(name);
    let bytes: Buffer | undefined;
    try {
      bytes = readFileSync(join(dir, name));
    } catch {
      bytes = undefined;
    }
    if (!m || !bytes || createHash('sha256').update(bytes).digest('hex') !== m[1]) {
      r.components.damaged.push(name);
      r.problems.push(`components/${name} does not match its digest`);
      continue;
    }
    salvage?.component(name, bytes);
  }
}
