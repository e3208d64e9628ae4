/**
 * One kernel per data dir: two would deliver the same messages twice and overwrite each other's
 * process table. `<home>/LOCK` names its owner: pid, process start time and boot id (from /proc;
 * `-` where there is none) and a random nonce, one line each, the pid first.
 *
 * A lock is stale when its owner is gone: the boot id differs (the machine restarted), the pid is
 * not running, or it runs but started at another time (pids are reused: after a `kill -9` in a
 * container the next kernel often gets the same pid). Without /proc, or for a LOCK an older
 * AgentOS wrote (a bare pid), a running pid holds the lock. A LOCK with this process's pid that
 * this process does not hold was left by an earlier process.
 *
 * Taking a lock is atomic: the LOCK is written aside and hard-linked into place (link fails if
 * one exists, as O_EXCL would, and no reader sees it half written). Taking over a stale one is a
 * claim: `LOCK.claim-<nonce of the stale lock>` is linked the same way, so for each stale lock one
 * process alone gets the claim; it checks that LOCK is still that stale lock and renames its own
 * over it. A claim whose claimant died is itself stale and claimed the same way, by its nonce;
 * it stays until the LOCK has changed, so a stale lock is never claimed under two names at once.
 * Nonces never repeat, so a claim cannot be won twice.
 *
 * @example
 * const lock = await HomeLock.acquire('/var/agentos');   // AOS_E_DATA_DIR if a kernel holds it
 * lock.release();
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fstatSync,
  linkSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { kill, pid } from 'node:process';
import { AgentOSError } from '../base/errors.js';

/** Who holds a lock (or a claim). `start`, `boot`, `nonce`: null where unknown. */
export interface Owner {
  pid: number;
  start: string | null;
  boot: string | null;
  nonce: string | null;
}

/** How old a lock file without its last line must be before it is taken for a dead writer's. */
const HALF_WRITTEN_MS = 10_000;

/** How long to wait for another process that is taking a stale lock over right now. */
const CLAIM_WAIT_MS = 2_000;

/** The nonces of the locks this process holds or is taking (shared by every copy of this module). */
const HELD = Symbol.for('agentos.store.locks');
const registry = globalThis as { [HELD]?: Set<string> };
registry[HELD] ??= new Set<string>();
const held: Set<string> = registry[HELD];

function format(o: Owner): string {
  return `${o.pid}\nstart ${o.start ?? '-'}\nboot ${o.boot ?? '-'}\nnonce ${o.nonce ?? '-'}\n`;
}

/** Parses a LOCK; a bare pid is an older AgentOS's; anything else yields pid NaN. */
export function parseOwner(text: string): Owner {
  const [first = '', ...rest] = text.split('\n');
  const fields = new Map(rest.map((l) => [l.slice(0, l.indexOf(' ')), l.slice(l.indexOf(' ') + 1)]));
  const field = (k: string): string | null => {
    const v = fields.get(k);
    return v === undefined || v === '-' || v === '' ? null : v;
  };
  const n = /^\d+$/.test(first.trim()) ? Number(first.trim()) : Number.NaN;
  return { pid: n, start: field('start'), boot: field('boot'), nonce: field('nonce') };
}

/** Whether a process with this pid is running. */
function running(other: number): boolean {
  try {
    kill(other, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whose a lock is: this process's, a live process's, or nobody's any more. */
export function judge(o: Owner): 'this-process' | 'alive' | 'gone' {
  if (o.nonce !== null && held.has(o.nonce)) return 'this-process';
  const boot = bootId();
  if (o.boot !== null && boot !== null && o.boot !== boot) return 'gone';
  if (!(Number.isInteger(o.pid) && o.pid > 0) || o.pid === pid || !running(o.pid)) return 'gone';
  if (o.start !== null) {
    const start = startTime(o.pid);
    if (start !== null && start !== o.start) return 'gone';
  }
  return 'alive';
}

/** A lock or claim file as read: its owner, and an id unique to this very file. */
type Found = { owner: Owner; id: string };

/** Reads a lock or claim file; null if it is not there. */
function read(path: string): Found | null {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  try {
    const st = fstatSync(fd, { bigint: true });
    const b = Buffer.alloc(512);
    const owner = parseOwner(b.toString('utf8', 0, readSync(fd, b, 0, b.length, 0)));
    // An older AgentOS's LOCK has no nonce: the file itself (inode, mtime) tells it apart.
    return { owner, id: owner.nonce ?? `v0-${st.ino}-${st.mtimeNs}` };
  } finally {
    closeSync(fd);
  }
}

/** Hard-links `from` to `to`; false if `to` exists. */
function link(from: string, to: string): boolean {
  try {
    linkSync(from, to);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
}

/** A lock this process holds on a data dir. */
export class HomeLock {
  private constructor(
    readonly home: string,
    private readonly nonce: string,
  ) {}

  /** Takes `<home>/LOCK`, or throws AOS_E_DATA_DIR naming who holds it. */
  static async acquire(home: string): Promise<HomeLock> {
    const nonce = randomBytes(8).toString('hex');
    const path = join(home, 'LOCK');
    const mine = join(home, `LOCK.tmp-${nonce}`);
    const refuse = (sentence: string, details: Record<string, unknown> = {}): AgentOSError =>
      new AgentOSError('AOS_E_DATA_DIR', sentence, { home, problem: 'in-use', ...details });
    // Ours from the start: this process's files (written aside, claims) are never judged stale.
    held.add(nonce);
    try {
      writeFileSync(mine, format({ pid, start: startTime(pid), boot: bootId(), nonce }), { flag: 'wx' });
      const until = Date.now() + CLAIM_WAIT_MS;
      for (;;) {
        if (link(mine, path)) break;
        const found = read(path);
        const state = found ? judge(found.owner) : 'gone';
        if (found && state === 'this-process')
          throw refuse(`data dir ${home} is already open in this process; close that kernel first`);
        if (found && state === 'alive')
          throw refuse(`data dir ${home} is in use by process ${found.owner.pid}`, {
            owner: found.owner.pid,
          });
        // Released meanwhile (look again), or stale: take it over.
        const r = found ? takeOver(home, found.id, mine) : 'lost';
        if (r === 'won') break;
        if (Date.now() > until)
          throw refuse(
            typeof r === 'number'
              ? `data dir ${home} is being taken over by process ${r}`
              : `data dir ${home}: its LOCK kept changing for ${CLAIM_WAIT_MS} ms`,
            typeof r === 'number' ? { owner: r } : {},
          );
        if (typeof r === 'number') await new Promise((done) => setTimeout(done, 10));
      }
      sweep(home, nonce);
      return new HomeLock(home, nonce);
    } catch (e) {
      held.delete(nonce);
      if (e instanceof AgentOSError) throw e;
      throw new AgentOSError(
        'AOS_E_DATA_DIR',
        `cannot lock ${home}: ${(e as Error).message}`,
        { home, problem: 'cannot-lock' },
        { cause: e },
      );
    } finally {
      rmSync(mine, { force: true });
    }
  }

  /** Removes the LOCK if it is still this one. */
  release(): void {
    held.delete(this.nonce);
    const path = join(this.home, 'LOCK');
    if (read(path)?.owner.nonce === this.nonce) rmSync(path, { force: true });
  }
}

/**
 * Replaces the stale lock `stale` (its id) with `mine`. 'won'; 'lost' when the LOCK changed
 * meanwhile (look again); or the pid of a live process that is taking it over right now.
 *
 * The dead claims passed on the way are removed only once the LOCK is no longer `stale` (won, or
 * seen changed): while a live claimant further down the chain is taking it over, they are what
 * keeps anyone else from claiming the same stale lock by another name.
 */
function takeOver(home: string, stale: string, mine: string): 'won' | 'lost' | number {
  const path = join(home, 'LOCK');
  const dead: string[] = [];
  let own: string | null = null;
  let moved = false;
  try {
    for (let id = stale, depth = 0; depth < 16; depth++) {
      const claim = join(home, `LOCK.claim-${id}`);
      if (link(mine, claim)) {
        own = claim;
        if (read(path)?.id !== stale) {
          moved = true;
          return 'lost';
        }
        renameSync(mine, path);
        moved = true;
        return 'won';
      }
      const found = read(claim);
      if (!found) return 'lost'; // its claimant finished
      if (judge(found.owner) !== 'gone') return found.owner.pid;
      dead.push(claim);
      id = found.id;
    }
    return 'lost';
  } finally {
    if (own !== null) rmSync(own, { force: true });
    if (moved) for (const c of dead) rmSync(c, { force: true });
  }
}

/** Removes what dead processes left while taking a lock (written-aside LOCKs, claims). */
function sweep(home: string, nonce: string): void {
  for (const name of readdirSync(home)) {
    if (!(name.startsWith('LOCK.tmp-') || name.startsWith('LOCK.claim-')) || name === `LOCK.tmp-${nonce}`)
      continue;
    const path = join(home, name);
    try {
      const found = read(path);
      if (!found) continue;
      // A file being written right now reads empty or cut short (no nonce yet): its writer may be
      // alive; only once it is old is it a dead writer's.
      if (found.owner.nonce === null && Date.now() - statSync(path).mtimeMs < HALF_WRITTEN_MS) continue;
      if (judge(found.owner) === 'gone') rmSync(path, { force: true });
    } catch {
      // Not ours to fix: a leftover that cannot be read stays.
    }
  }
}

/** The text of a LOCK naming `o` (tests plant one). */
export function lockText(o: Owner): string {
  return format(o);
}

let boot: string | null | undefined;

/** This boot's id (Linux), or null without /proc. */
export function bootId(): string | null {
  if (boot === undefined) {
    try {
      boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || null;
    } catch {
      boot = null;
    }
  }
  return boot;
}

/** When process `p` started (field 22 of /proc/<p>/stat, clock ticks since boot), or null. */
export function startTime(p: number): string | null {
  try {
    const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
    // Field 2, the command name, is in parentheses and may hold spaces: count from after it.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}
