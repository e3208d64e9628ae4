/**
 * The fresh data dir `agentos doctor --salvage OUT` fills: every named database the damaged home
 * lists (even an empty one), every record the walk could read, byte for byte (raw keys and
 * values, so the kernel decodes them as before), and every component whose bytes match their
 * digest. It is made by Store.open, so it gets its lock and format marker like any new home.
 * Transpiled glue (`cache/`) is not copied: the kernel rebuilds it.
 *
 * @example
 * const out = await Salvage.start('/var/agentos-saved');   // new or empty, else AOS_E_BAD_ARGUMENT
 * out.database('agents');
 * out.put('agents', key, value);
 * const report = await out.finish();
 */
import { mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Database } from 'lmdb';
import { AgentOSError } from '../kernel/base/errors.js';
import { MAIN_RECORDS } from '../kernel/store/lmdb-snapshot.js';
import { Store } from '../kernel/store/store.js';

/** Records written per LMDB transaction: big enough to be quick, small enough to hold in memory. */
const CHUNK = 4096;

/** What a salvage copied. */
export interface SalvageReport {
  to: string;
  /** Records copied, per database. */
  databases: Record<string, number>;
  components: number;
  /** Records kept in LMDB's main tree itself (AgentOS keeps none there): not copied. */
  skipped: number;
}

export class Salvage {
  private readonly dbs = new Map<string, Database<Buffer, Buffer>>();
  private pending: { db: Database<Buffer, Buffer>; key: Buffer; value: Buffer }[] = [];
  private readonly report: SalvageReport;

  private constructor(
    private readonly store: Store,
    private readonly made: boolean,
  ) {
    this.report = { to: store.home, databases: {}, components: 0, skipped: 0 };
  }

  /** Makes a fresh data dir at `out`, which must not exist or be empty. */
  static async start(out: string): Promise<Salvage> {
    const st = statSync(out, { throwIfNoEntry: false });
    if (st && !(st.isDirectory() && readdirSync(out).length === 0))
      throw new AgentOSError(
        'AOS_E_BAD_ARGUMENT',
        `--salvage needs a new or empty directory; ${out} is not one`,
      );
    mkdirSync(out, { recursive: true });
    try {
      return new Salvage(await Store.open(out), !st);
    } catch (e) {
      Salvage.clear(out, !st);
      throw e;
    }
  }

  /** Opens (making it) the named database. */
  database(name: string): Database<Buffer, Buffer> {
    let db = this.dbs.get(name);
    if (!db) {
      // Default keys (what the kernel uses: the same key order); a Buffer key is written as is.
      db = this.store.db<Buffer>(name, { encoding: 'binary' }) as unknown as Database<Buffer, Buffer>;
      this.dbs.set(name, db);
      this.report.databases[name] = 0;
    }
    return db;
  }

  /** Queues one record, writing a chunk when enough are queued. */
  put(name: string, key: Buffer, value: Buffer): void {
    if (name === MAIN_RECORDS) {
      this.report.skipped++;
      return;
    }
    this.pending.push({ db: this.database(name), key, value });
    this.report.databases[name] = (this.report.databases[name] ?? 0) + 1;
    if (this.pending.length >= CHUNK) this.write();
  }

  /** Copies a component file (already checked against its digest). */
  component(name: string, bytes: Uint8Array): void {
    const dir = join(this.store.home, 'components');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, name), bytes);
    this.report.components++;
  }

  /** Writes what is queued, closes the new data dir and says what it holds. */
  async finish(): Promise<SalvageReport> {
    this.write();
    await this.store.flushed();
    await this.store.close();
    return this.report;
  }

  /** Closes and removes what this salvage made (after a failure). */
  async abandon(): Promise<void> {
    await this.store.close();
    Salvage.clear(this.store.home, this.made);
  }

  private write(): void {
    const batch = this.pending;
    this.pending = [];
    const first = batch[0];
    if (!first) return;
    first.db.transactionSync(() => {
      for (const { db, key, value } of batch) db.putSync(key, value);
    });
  }

  private static clear(out: string, made: boolean): void {
    if (made) rmSync(out, { recursive: true, force: true });
    else for (const name of readdirSync(out)) rmSync(join(out, name), { recursive: true, force: true });
  }
}
