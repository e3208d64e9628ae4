import { execFile } from 'node:child_process';
import { existsSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../kernel/base/paths.js';
import { PageFile } from '../kernel/store/lmdb-pages.js';
import { walkSnapshot } from '../kernel/store/lmdb-snapshot.js';
import {
  childrenOf,
  copyHome,
  FILLED,
  fileHashes,
  filledHome,
  garblePage,
  lastPage,
  treeOf,
  zeroBytes,
} from '../testing/damage.js';
import { openKernel, TEST_CACHE_DIR, tempHome } from '../testing/harness.js';
import type { DoctorReport } from './doctor.js';

const CLI = join(packageRoot(), 'dist', 'toolchain', 'cli', 'main.js');

interface Run {
  code: number | null;
  signal: string | null;
  report: DoctorReport;
  stderr: string;
}

function doctor(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, 'doctor', ...args],
      { env: { ...process.env, AGENTOS_CACHE: TEST_CACHE_DIR } },
      (err, stdout, stderr) => {
        const e = err as (Error & { code?: number; signal?: string }) | null;
        let report = {} as DoctorReport;
        try {
          report = JSON.parse(stdout) as DoctorReport;
        } catch {
          // A refusal prints no report.
        }
        resolve({ code: e ? (e.code ?? null) : 0, signal: e?.signal ?? null, report, stderr });
      },
    );
  });
}

/** Every record of every database, read without LMDB: db → key (hex) → value (hex). */
function records(home: string): Map<string, Map<string, string>> {
  const file = PageFile.open(join(home, 'db', 'data.mdb'));
  const out = new Map<string, Map<string, string>>();
  try {
    const { newest } = file.metas();
    if (typeof newest === 'string') throw new Error(newest);
    walkSnapshot(file, newest, {
      onRecord: (db, k, v) => {
        if (!out.has(db)) out.set(db, new Map());
        out.get(db)!.set(k.toString('hex'), v.toString('hex'));
      },
    });
    return out;
  } finally {
    file.close();
  }
}

let source: string;
let agent: string;

beforeAll(async () => {
  ({ home: source, agent } = await filledHome());
});

/** A copy whose first mailbox leaf is garbled: its messages are lost, everything else is readable. */
function damagedHome(): { home: string; leaf: number } {
  const home = copyHome(source);
  const leaf = childrenOf(home, treeOf(home, 'mailbox').root!)[0]!;
  garblePage(home, leaf);
  return { home, leaf };
}

describe('agentos doctor', () => {
  it('exits 0 on a healthy home, having read every record of every database', async () => {
    const home = copyHome(source);
    const r = await doctor('--home', home);
    expect(r.code, r.stderr).toBe(0);
    expect(r.report).toMatchObject({ healthy: true, problems: [], marker: { format: 1, ok: true } });
    expect(r.report.database.metaPages.map((m) => m.ok)).toEqual([true, true]);
    for (const d of r.report.databases) expect(d).toMatchObject({ read: d.entries, errorCount: 0 });
    expect(r.report.databases.find((d) => d.name === 'mailbox')?.read).toBe(FILLED.messages);
    expect(r.report.databases.find((d) => d.name === 'working-memory')?.read).toBe(FILLED.keys);
    expect(r.report.components).toEqual({ files: 1, damaged: [] });
  });

  it('calls a new, empty dir healthy', async () => {
    const r = await doctor('--home', tempHome());
    expect(r.code, r.stderr).toBe(0);
    expect(r.report).toMatchObject({ healthy: true, database: { state: 'missing' } });
  });

  it('exits 1 on a damaged home, naming the page and what is still readable, and changes nothing', async () => {
    const { home, leaf } = damagedHome();
    writeFileSync(join(home, 'components', `${'0'.repeat(64)}.wasm`), 'not the bytes of that digest');
    const before = fileHashes(home);
    const r = await doctor('--home', home);
    expect(r.signal).toBeNull();
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^AOS_E_DATA_DIR: data dir .* is damaged/);
    const mailbox = r.report.databases.find((d) => d.name === 'mailbox')!;
    expect(mailbox.errors[0]).toContain(`page ${leaf} is garbled`);
    expect(mailbox.read).toBeLessThan(FILLED.messages);
    expect(mailbox.read).toBeGreaterThan(0);
    expect(r.report.databases.find((d) => d.name === 'working-memory')).toMatchObject({ read: FILLED.keys });
    expect(r.report.components.damaged).toEqual([`${'0'.repeat(64)}.wasm`]);
    expect(r.report.healthy).toBe(false);
    expect(fileHashes(home)).toEqual(before);
  });

  it('reports a truncated file and zeroed meta pages instead of crashing', async () => {
    const cut = copyHome(source);
    truncateSync(join(cut, 'db', 'data.mdb'), Math.floor((lastPage(cut) + 1) / 2) * 4096);
    const r = await doctor('--home', cut);
    expect(r.signal).toBeNull();
    expect(r.code).toBe(1);
    expect(r.report.database.truncated).toBe(true);
    const zeroed = copyHome(source);
    zeroBytes(zeroed, 0, 8192);
    const z = await doctor('--home', zeroed);
    expect(z.code).toBe(1);
    expect(z.report.database.metaPages.map((m) => m.ok)).toEqual([false, false]);
  });

  it('refuses a home a kernel holds', async () => {
    const home = copyHome(source);
    const kernel = await openKernel({ home });
    const r = await doctor('--home', home);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^AOS_E_DATA_DIR: data dir .* is already open in this process|is in use by process/,
    );
    await kernel.close();
  });

  it('--salvage needs a new or empty directory', async () => {
    const out = tempHome();
    writeFileSync(join(out, 'something'), 'x');
    const r = await doctor('--home', copyHome(source), '--salvage', out);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^AOS_E_BAD_ARGUMENT: --salvage needs a new or empty directory/);
  });
});

describe('agentos doctor --salvage', () => {
  it('copies every readable record and component into a fresh home the kernel opens and runs', async () => {
    const { home } = damagedHome();
    const out = join(tempHome(), 'saved');
    const r = await doctor('--home', home, '--salvage', out);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`what was readable is in ${out}`);
    const mailbox = r.report.databases.find((d) => d.name === 'mailbox')!;
    expect(r.report.salvage).toMatchObject({ to: out, components: 1, skipped: 0 });
    expect(r.report.salvage?.databases.mailbox).toBe(mailbox.read);
    // Byte for byte: each database holds exactly the records the damaged home still had readable.
    const readable = records(home);
    const saved = records(out);
    for (const d of r.report.databases)
      expect(saved.get(d.name) ?? new Map(), d.name).toEqual(readable.get(d.name) ?? new Map());
    expect((await doctor('--home', out)).report.healthy).toBe(true);
    const kernel = await openKernel({ home: out });
    expect(kernel.list().map((a) => [a.id, a.mailbox])).toEqual([[agent, mailbox.read]]);
    kernel.resume(agent);
    const got = await kernel.send(agent, { op: 'wm', calls: [['get', 'key-7']] });
    expect(got).toEqual([{ ok: `value-7-${'v'.repeat(80)}` }]);
  });

  it('salvages from the intact meta page when the newest one is zeroed', async () => {
    const home = copyHome(source);
    const newest = PageFile.open(join(home, 'db', 'data.mdb'));
    const page = (newest.metas().newest as { page: number }).page;
    newest.close();
    zeroBytes(home, page * 4096, 4096);
    const out = join(tempHome(), 'saved');
    const r = await doctor('--home', home, '--salvage', out);
    expect(r.code).toBe(1);
    expect(r.report.database.metaPages[page]?.ok).toBe(false);
    expect(r.report.databases.every((d) => d.errorCount === 0)).toBe(true);
    const kernel = await openKernel({ home: out });
    expect(kernel.list().map((a) => a.id)).toEqual([agent]);
  });

  it('leaves nothing behind when the home cannot be read', async () => {
    const missing = join(tempHome(), 'nowhere');
    const out = join(tempHome(), 'new');
    const r = await doctor('--home', missing, '--salvage', out);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^AOS_E_DATA_DIR: no data dir at/);
    expect(existsSync(out)).toBe(false);
  });
});
