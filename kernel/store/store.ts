/**
 * The data dir and its LMDB environment: one place that opens it, names its databases and
 * closes it. Capabilities get their own named databases through `Store.db(name)`.
 *
 * Before LMDB maps the environment the dir is locked (lock.ts) and checked (data-dir.ts): a
 * damaged or mismatched one is refused with AOS_E_DATA_DIR and left as it is. Reads that meet
 * a damaged page later fail inside LMDB with an `MDB_` error; `guard` turns one into
 * AOS_E_DATA_DIR naming what was being read.
 *
 * @example
 * const store = await Store.open('./.agentos');
 * const agents = store.guard('the process table', () => [...store.db('agents').getKeys()]);
 * await store.close();
 */
import { mkdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type Database, open, type RootDatabase } from 'lmdb';
import type { AgentOSError } from '../base/errors.js';
import { checkDataDir, dataDirError, isLmdbError, writeMarker } from './data-dir.js';
import { HomeLock } from './lock.js';
import { WriteBatch } from './write-batch.js';

/** How long close() waits after the last commit before closing LMDB (see close). */
export const CLOSE_GRACE_MS = 25;

export class Store {
  private readonly dbs = new Map<string, Database>();
  private closed = false;
  /** The kernel's batched writes (journal, mailboxes, working memory). */
  readonly batch: WriteBatch;

  private constructor(
    /** Absolute path of the data dir. */
    readonly home: string,
    private readonly root: RootDatabase,
    private readonly lock: HomeLock,
  ) {
    this.batch = new WriteBatch(root);
  }

  /**
   * Opens the data dir at `home`, creating it (and its database) if it does not exist or is
   * empty. Refuses with AOS_E_DATA_DIR, changing nothing, a dir another kernel holds, or one
   * whose database is damaged, missing where one was made, or of another format.
   */
  static async open(home: string): Promise<Store> {
    const abs = resolve(home);
    try {
      const st = statSync(abs, { throwIfNoEntry: false });
      if (st && !st.isDirectory())
        throw dataDirError(abs, 'not-a-directory', 'it exists but is not a directory');
      mkdirSync(abs, { recursive: true });
    } catch (e) {
      if ((e as AgentOSError).code === 'AOS_E_DATA_DIR') throw e;
      throw dataDirError(abs, 'cannot-create', `cannot create it: ${(e as Error).message}`, {}, e);
    }
    const lock = await HomeLock.acquire(abs);
    let root: RootDatabase | undefined;
    try {
      const plan = checkDataDir(abs);
      try {
        mkdirSync(join(abs, 'db'), { recursive: true });
        root = open({ path: join(abs, 'db'), maxDbs: 32 });
      } catch (e) {
        throw dataDirError(abs, 'unreadable', `cannot open the database: ${(e as Error).message}`, {}, e);
      }
      // After LMDB made the database, so a marker never names a database that is not there.
      if (plan.writeMarker) writeMarker(abs);
      return new Store(abs, root, lock);
    } catch (e) {
      await root?.close();
      lock.release();
      if ((e as AgentOSError).code === 'AOS_E_DATA_DIR') throw e;
      throw dataDirError(abs, 'cannot-create', (e as Error).message, {}, e);
    }
  }

  /**
   * Runs `read` (sync or async) and turns LMDB's report of a damaged page into AOS_E_DATA_DIR
   * (`details.problem` 'lmdb', `details.reason` LMDB's words) naming `what` was being read.
   * Other errors pass through as they are.
   */
  guard<T>(what: string, read: () => T): T {
    const damaged = (e: unknown): unknown =>
      isLmdbError(e)
        ? dataDirError(
            this.home,
            'lmdb',
            `reading ${what} failed in LMDB: ${e.message}`,
            { reason: e.message },
            e,
          )
        : e;
    let value: T;
    try {
      value = read();
    } catch (e) {
      throw damaged(e);
    }
    if (value instanceof Promise)
      return value.catch((e: unknown) => {
        throw damaged(e);
      }) as T;
    return value;
  }

  /** A named database in this environment (opened once). Keys may be arrays ([agent, seq]). */
  db<V = unknown>(name: string, options: { encoding?: 'msgpack' | 'binary' | 'string' } = {}): Database<V> {
    let db = this.dbs.get(name);
    if (!db) {
      db = this.guard(`database ${name}`, () =>
        this.root.openDB({ name, encoding: options.encoding ?? 'msgpack' }),
      );
      this.dbs.set(name, db);
    }
    return db as Database<V>;
  }

  /** Whether close() was called: writes after it are dropped. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Resolves once every write queued so far (batched or not) is committed. */
  async flushed(): Promise<void> {
    this.batch.flush();
    await this.root.flushed;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.batch.close();
    await this.root.flushed;
    // lmdb-js reports a commit before its writer thread is done with the environment (it then
    // notifies commit listeners through it); closing at once can free the environment under
    // that thread: a segfault (seen in a core dump: WriteWorker::Write → notifyUserCallbacks).
    // A short pause lets the writer finish first.
    await new Promise((r) => setTimeout(r, CLOSE_GRACE_MS));
    await this.root.flushed;
    await this.root.close();
    this.lock.release();
  }
}
