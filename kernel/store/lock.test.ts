import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pid } from 'node:process';
import { afterEach, describe, expect, it } from 'vitest';
import { tempHome } from '../../testing/harness.js';
import { AgentOSError } from '../base/errors.js';
import { packageRoot } from '../base/paths.js';
import { bootId, HomeLock, lockText, parseOwner, startTime } from './lock.js';
import { Store } from './store.js';

const CHILD = join(packageRoot(), 'dist', 'testing', 'data-dir-child.js');
const children: ChildProcess[] = [];

afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
});

/** A live process that is not a kernel: a `sleep` child. */
function sleeper(): ChildProcess {
  const c = spawn('sleep', ['600'], { stdio: 'ignore' });
  children.push(c);
  return c;
}

async function refusal(p: Promise<unknown>): Promise<AgentOSError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(AgentOSError);
  return e as AgentOSError;
}

/** A child process opening `home` (at `at`, if given) and holding it: its first line, once printed. */
function holder(home: string, at?: number): Promise<{ child: ChildProcess; line: string }> {
  const child = execFile(process.execPath, [CHILD, 'hold', home, ...(at === undefined ? [] : [String(at)])]);
  children.push(child);
  return new Promise((resolve) => {
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve({ child, line: out.trim() });
    });
    child.on('exit', () => resolve({ child, line: out.trim() }));
  });
}

const lockOf = (home: string) => parseOwner(readFileSync(join(home, 'LOCK'), 'utf8'));

describe('the LOCK names its owner', () => {
  it('holds pid, start time, boot id and a nonce, the pid first (what older readers parse)', async () => {
    const home = tempHome();
    const lock = await HomeLock.acquire(home);
    const text = readFileSync(join(home, 'LOCK'), 'utf8');
    expect(Number.parseInt(text, 10)).toBe(pid);
    expect(parseOwner(text)).toMatchObject({ pid, start: startTime(pid), boot: bootId() });
    expect(parseOwner(text).nonce).toMatch(/^[0-9a-f]{16}$/);
    lock.release();
    expect(existsSync(join(home, 'LOCK'))).toBe(false);
  });

  it('refuses a second lock in this process, and a live kernel in another process', async () => {
    const home = tempHome();
    const store = await Store.open(home);
    const again = await refusal(Store.open(home));
    expect(again.message).toMatch(/is already open in this process/);
    await store.close();
    const { child, line } = await holder(home);
    expect(JSON.parse(line)).toEqual({ ok: true, pid: child.pid });
    const e = await refusal(Store.open(home));
    expect(e.code).toBe('AOS_E_DATA_DIR');
    expect(e.details).toMatchObject({ problem: 'in-use', owner: child.pid });
  });

  it('takes over the lock of a kernel killed with kill -9', async () => {
    const home = tempHome();
    const { child } = await holder(home);
    expect(lockOf(home).pid).toBe(child.pid);
    const exited = new Promise((r) => child.on('exit', r));
    child.kill('SIGKILL');
    await exited;
    const store = await Store.open(home);
    expect(lockOf(home).pid).toBe(pid);
    await store.close();
  });
});

describe('a stale LOCK naming a live process is taken over', () => {
  it('takes over a LOCK whose pid now runs an unrelated process (its start time differs)', async () => {
    const home = tempHome();
    const other = sleeper();
    const start = startTime(other.pid!);
    expect(start).not.toBeNull();
    writeFileSync(join(home, 'LOCK'), lockText({ pid: other.pid!, start: '1', boot: bootId(), nonce: 'aa' }));
    const store = await Store.open(home);
    expect(lockOf(home).pid).toBe(pid);
    await store.close();
  });

  it('still refuses a LOCK whose process runs with the start time it names', async () => {
    const home = tempHome();
    const other = sleeper();
    writeFileSync(
      join(home, 'LOCK'),
      lockText({ pid: other.pid!, start: startTime(other.pid!), boot: bootId(), nonce: 'bb' }),
    );
    const e = await refusal(Store.open(home));
    expect(e.details).toMatchObject({ problem: 'in-use', owner: other.pid });
  });

  it('takes over a LOCK from another boot, whatever runs under its pid now', async () => {
    const home = tempHome();
    writeFileSync(
      join(home, 'LOCK'),
      lockText({ pid: 1, start: startTime(1), boot: 'another-boot', nonce: 'cc' }),
    );
    const store = await Store.open(home);
    expect(lockOf(home).pid).toBe(pid);
    await store.close();
  });

  it("takes over a LOCK with this process's pid that this process does not hold (a reused pid)", async () => {
    const home = tempHome();
    writeFileSync(join(home, 'LOCK'), String(pid)); // as an earlier AgentOS, run under this pid, left it
    const store = await Store.open(home);
    expect(lockOf(home).nonce).not.toBeNull();
    await store.close();
  });

  it('judges a LOCK without start time (no /proc where it was written) by its pid alone', async () => {
    const home = tempHome();
    const other = sleeper();
    writeFileSync(join(home, 'LOCK'), lockText({ pid: other.pid!, start: null, boot: null, nonce: 'dd' }));
    expect((await refusal(Store.open(home))).details).toMatchObject({ owner: other.pid });
  });
});

describe('taking over a stale lock', () => {
  const stale = (home: string): void =>
    writeFileSync(
      join(home, 'LOCK'),
      lockText({ pid: 2 ** 22 + 1, start: '7', boot: bootId(), nonce: 'dead' }),
    );

  it('lets exactly one of several processes racing for the same stale lock win', async () => {
    for (let round = 0; round < 3; round++) {
      const home = tempHome();
      if (round === 1)
        writeFileSync(join(home, 'LOCK'), String(2 ** 22 + 1)); // an older AgentOS's
      else stale(home);
      if (round === 2) {
        // A process that died while taking the lock over left its claim.
        const claim = lockText({ pid: 2 ** 22 + 2, start: '9', boot: bootId(), nonce: 'gone' });
        writeFileSync(join(home, 'LOCK.claim-dead'), claim);
      }
      const at = Date.now() + 1500;
      const runs = await Promise.all(Array.from({ length: 5 }, () => holder(home, at)));
      const winners = runs.filter((r) => JSON.parse(r.line).ok === true);
      const losers = runs.filter((r) => JSON.parse(r.line).ok === false);
      expect(winners).toHaveLength(1);
      for (const l of losers)
        expect(JSON.parse(l.line)).toMatchObject({ code: 'AOS_E_DATA_DIR', problem: 'in-use' });
      expect(lockOf(home).pid).toBe(winners[0]!.child.pid);
      winners[0]!.child.stdin?.end();
      await new Promise((r) => winners[0]!.child.on('exit', r));
      expect(readdirSync(home).sort()).toEqual(['FORMAT', 'db']);
    }
  });

  it('waits for a live process that is taking the lock over, then names it', async () => {
    const home = tempHome();
    stale(home);
    const other = sleeper();
    const claim = lockText({ pid: other.pid!, start: startTime(other.pid!), boot: bootId(), nonce: 'busy' });
    writeFileSync(join(home, 'LOCK.claim-dead'), claim);
    const e = await refusal(Store.open(home));
    expect(e.message).toMatch(new RegExp(`is being taken over by process ${other.pid}`));
    expect(readFileSync(join(home, 'LOCK.claim-dead'), 'utf8')).toBe(claim);
  });

  it("keeps a dead claimant's claim while a live one further down the chain takes the lock over", async () => {
    // A dead claim ('dead' claimed by nonce 'gone'), and a live process holding the claim on 'gone'.
    const home = tempHome();
    stale(home);
    const deadClaim = lockText({ pid: 2 ** 22 + 2, start: '9', boot: bootId(), nonce: 'gone' });
    writeFileSync(join(home, 'LOCK.claim-dead'), deadClaim);
    const other = sleeper();
    const live = lockText({ pid: other.pid!, start: startTime(other.pid!), boot: bootId(), nonce: 'busy' });
    writeFileSync(join(home, 'LOCK.claim-gone'), live);
    const e = await refusal(Store.open(home));
    expect(e.message).toMatch(new RegExp(`is being taken over by process ${other.pid}`));
    // Had the dead claim gone, the next process would claim 'dead' afresh and win beside the live one.
    expect(readFileSync(join(home, 'LOCK.claim-dead'), 'utf8')).toBe(deadClaim);
    expect(readFileSync(join(home, 'LOCK.claim-gone'), 'utf8')).toBe(live);
    expect(lockOf(home).nonce).toBe('dead');
  });

  it('leaves a LOCK that another process took meanwhile alone when releasing', async () => {
    const home = tempHome();
    const store = await Store.open(home);
    const theirs = lockText({ pid: 1, start: startTime(1), boot: bootId(), nonce: 'theirs' });
    writeFileSync(join(home, 'LOCK'), theirs);
    await store.close();
    expect(readFileSync(join(home, 'LOCK'), 'utf8')).toBe(theirs);
  });
});
