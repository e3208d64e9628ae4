/**
 * The data dir and its LMDB environment: one place that opens it, names its databases and
 * closes it. Capabilities get their own named databases through `Store.db(name)`.
 *
 * @example
 * const store = await Store.open('./.agentos');
 * store.db('agents').get('echo-1a2b3c');
 * await store.close();
 */
import { mkdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type Database, open, type RootDatabase } from 'lmdb';
import { AgentOSError } from '../errors.js';
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

  /** Opens (creating if needed) the data dir at `home`. */
  static async open(home: string): Promise<Store> {
    const abs = resolve(home);
    try {
      const st = statSync(abs, { throwIfNoEntry: false });
      if (st && !st.isDirectory()) {
        throw new AgentOSError('AOS_E_DATA_DIR', `data dir ${abs} exists but is not a directory`, {
          home: abs,
        });
      }
      mkdirSync(join(abs, 'db'), { recursive: true });
    } catch (e) {
      if (e instanceof AgentOSError) throw e;
      throw new AgentOSError(
        'AOS_E_DATA_DIR',
        `cannot create data dir ${abs}: ${(e as Error).message}`,
        { home: abs },
        {
          cause: e,
        },
      );
    }
    const lock = await HomeLock.acquire(abs);
    let root: RootDatabase;
    try {
      root = open({ path: join(abs, 'db'), maxDbs: 32 });
    } catch (e) {
      lock.release();
      throw new AgentOSError(
        'AOS_E_DATA_DIR',
        `cannot open the database in ${abs}: ${(e as Error).message}`,
        {
          home: abs,
        },
        { cause: e },
      );
    }
    return new Store(abs, root, lock);
  }

  /** A named database in this environment (opened once). Keys may be arrays ([agent, seq]). */
  db<V = unknown>(name: string, options: { encoding?: 'msgpack' | 'binary' | 'string' } = {}): Database<V> {
    let db = this.dbs.get(name);
    if (!db) {
      db = this.root.openDB({ name, encoding: options.encoding ?? 'msgpack' });
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
