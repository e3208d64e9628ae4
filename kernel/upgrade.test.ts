/**
 * `kernel.upgrade`: a running agent moves to the catalog's current version (or a named one),
 * keeping its id, mailbox and working memory; a version whose init fails leaves it where it was;
 * and at open every restored agent's component passes the signing policy again.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { codeOf } from '../testing/expect-error.js';
import { fixture, openKernel, sample, signedForTests, tempHome, until } from '../testing/harness.js';
import { DEV_PUBLISHER, devKey } from '../toolchain/dev-key.js';
import { SIGNATURE_SECTION } from './signing/format.js';
import { type Manifest, readManifest } from './signing/manifest.js';
import { withoutCustomSections } from './signing/sections.js';
import { TrustStore } from './signing/trust.js';

const code = async (p: Promise<unknown>): Promise<string> => (await codeOf(p)).split(':')[0]!;

/** Another component's code, published as version `version` of the counter. */
async function asCounter(path: string, version: string, over: Partial<Manifest> = {}): Promise<Buffer> {
  const bytes = readFileSync(path);
  const counter = readManifest(readFileSync(await sample('counter')), 'counter')!;
  const own = readManifest(bytes, path)!;
  return signedForTests(withoutCustomSections(bytes, [SIGNATURE_SECTION], path), {
    ...counter,
    version,
    capabilities: own.capabilities,
    ...over,
  });
}

const GRANTS = ['log', 'working-memory'];

describe('kernel.upgrade', () => {
  it('moves a running agent to the current version and back, keeping its id, mailbox and working memory', async () => {
    const k = await openKernel();
    await k.catalog.install(await sample('counter'));
    const id = await k.spawn('counter', { grants: GRANTS });
    expect(await k.send(id, { by: 2 })).toEqual({ count: 2 });
    // echo's code, as counter 2.0.0: installing it changes nothing for the running agent.
    await k.catalog.update(await asCounter(await sample('echo'), '2.0.0'));
    expect(await k.send(id, { by: 1 })).toEqual({ count: 3 });
    const before = k.inspect(id);

    const events = k.events({ prefixes: ['agent.upgraded'] });
    // Its recorded run, replayed on echo's code, goes otherwise: refused, nothing changed.
    expect(await codeOf(k.upgrade(id))).toMatch(
      /^AOS_E_REPLAY_DIVERGED: .*diverges on counter@2\.0\.0 at invocation 0, hostcall 0 .*nothing changed/,
    );
    expect(k.inspect(id).digest).toBe(before.digest);
    expect(await k.send(id, { by: 1 })).toEqual({ count: 4 });
    const forced = await k.upgrade(id, undefined, { force: true });
    expect(forced).toMatchObject({ id, from: '1.0.0', to: '2.0.0', upgraded: true });
    expect(forced.replay).toMatchObject({ identical: false, divergence: { what: 'extra-hostcall' } });
    expect(await k.send(id, { text: 'new code' })).toMatchObject({ text: 'new code' });
    const after = k.inspect(id);
    expect(after.provenance).toMatchObject({ name: 'counter', version: '2.0.0', granted: GRANTS });
    expect(after.digest).not.toBe(before.digest);
    expect(after.grants).toEqual(['log']); // echo requests log alone
    expect(after.stats.invocations).toBe(before.stats.invocations + 2);
    expect((await events.next()).value).toMatchObject({
      kind: 'agent.upgraded',
      agent: id,
      detail: { from: '1.0.0', to: '2.0.0' },
    });
    const journal = await k.journal(id);
    expect(journal.filter((e) => e.t === 'upgrade')).toMatchObject([
      { digest: after.digest, from: before.digest, version: '2.0.0', grants: ['log'] },
    ]);
    expect(await k.upgrade(id)).toMatchObject({ upgraded: false }); // already current

    // Back to 1.x by range: the count it kept in working memory goes on.
    expect(await k.upgrade(id, 'counter@^1', { force: true })).toMatchObject({ from: '2.0.0', to: '1.0.0' });
    expect(await k.send(id, { by: 1 })).toEqual({ count: 5 });
    expect(k.inspect(id).grants).toEqual(GRANTS);
  });

  it('waits for the call in flight, and no message queued meanwhile is lost', async () => {
    const k = await openKernel();
    await k.catalog.install(await sample('counter'));
    const id = await k.spawn('counter', { grants: GRANTS });
    await k.catalog.update(await asCounter(await sample('echo'), '2.0.0'));
    const early = Array.from({ length: 20 }, (_, i) => k.send(id, { by: 1, i }));
    const upgraded = k.upgrade(id, undefined, { check: false });
    const late = Array.from({ length: 20 }, (_, i) => k.send(id, { by: 1, i: 20 + i }));
    await upgraded;
    const answers = await Promise.all([...early, ...late]);
    expect(answers).toHaveLength(40);
    // Each message was answered once, by one version or the other; the counts have no gaps.
    const counts = answers.flatMap((a) => ('count' in (a as object) ? [(a as { count: number }).count] : []));
    expect(counts.sort((a, b) => a - b)).toEqual(counts.map((_, i) => i + 1));
    expect(await k.send(id, { text: 'after' })).toMatchObject({ text: 'after' });
    expect(k.mailbox(id)).toEqual([]);
  });

  it('keeps the old version when the new one fails init, and refuses what does not fit', async () => {
    const k = await openKernel();
    await k.catalog.install(await sample('counter'));
    // thrower's init throws when its config says so; the counter ignores that key.
    const id = await k.spawn('counter', { grants: GRANTS, config: { throwInit: 'not this one' } });
    expect(await k.send(id, {})).toEqual({ count: 1 });
    await k.catalog.install(await asCounter(await fixture('thrower'), '3.0.0'));
    expect(await codeOf(k.upgrade(id, 'counter@3', { check: false }))).toMatch(
      /^AOS_E_AGENT_CRASHED: .*not this one/,
    );
    expect(k.inspect(id).provenance).toMatchObject({ version: '1.0.0' });
    expect(await k.send(id, {})).toEqual({ count: 2 });

    // A skill by the counter's name; another name; nothing in range; no such agent; bad arguments.
    const skill = await asCounter(await sample('text-stats'), '4.0.0', { world: 'skill' });
    await k.catalog.install(skill);
    expect(await code(k.upgrade(id, 'counter@4'))).toBe('AOS_E_WRONG_WORLD');
    await k.catalog.install(await sample('echo'));
    expect(await code(k.upgrade(id, 'echo'))).toBe('AOS_E_BAD_ARGUMENT');
    expect(await code(k.upgrade(id, 'counter@9'))).toBe('AOS_E_NOT_INSTALLED');
    expect(await code(k.upgrade(id, '../counter'))).toBe('AOS_E_COMPONENT_NOT_FOUND'); // a file's name
    expect(await code(k.upgrade('counter-000000'))).toBe('AOS_E_AGENT_NOT_FOUND');
    await k.terminate(id);
    expect(await code(k.upgrade(id))).toBe('AOS_E_AGENT_TERMINATED');
  });

  it('an agent another waits on (an ipc.call to it, queued) is upgraded without either waiting for the other', async () => {
    // One worker: the caller's blocked call holds it while the callee is upgraded.
    const k = await openKernel({ workers: 1 });
    const path = await fixture('messenger');
    const bytes = readFileSync(path);
    const own = readManifest(bytes, path)!;
    await k.catalog.install(path);
    await k.catalog.install(
      signedForTests(withoutCustomSections(bytes, [SIGNATURE_SECTION], path), { ...own, version: '2.0.0' }),
    );
    const callee = await k.spawn('messenger@1', { grants: ['ipc'], name: 'callee' });
    const caller = await k.spawn('messenger@1', { grants: ['ipc'], name: 'caller' });
    const call = k.send(caller, { op: 'call', to: callee, kind: 'task', body: 21, timeoutMs: 0 });
    // The same code as a new version: its recorded run replays cleanly on it.
    const upgraded = k.upgrade(callee, 'messenger@2');
    expect(await upgraded).toMatchObject({
      from: '1.0.0',
      to: '2.0.0',
      upgraded: true,
      replay: { identical: true },
    });
    expect(await call).toEqual({ ok: { doubled: 42 } });
  });

  it('terminate during an upgrade wins: the upgrade says so, and the agent stays ended', async () => {
    const k = await openKernel();
    await k.catalog.install(await sample('counter'));
    await k.catalog.update(await asCounter(await sample('echo'), '2.0.0'));
    const outcome = (p: Promise<unknown>) =>
      p.then(
        () => 'upgraded',
        (e: { code?: string }) => e.code,
      );
    // Before the new version is even checked.
    const early = await k.spawn('counter@1', { grants: GRANTS });
    const first = outcome(k.upgrade(early, 'counter@2', { check: false }));
    await k.terminate(early);
    expect(await first).toBe('AOS_E_AGENT_TERMINATED');
    expect((await k.journal(early)).some((e) => e.t === 'upgrade')).toBe(false);
    // While the new instance starts (the agent is busy with its init).
    const late = await k.spawn('counter@1', { grants: GRANTS });
    const second = outcome(k.upgrade(late, 'counter@2', { check: false }));
    while (!k.inspect(late).busy) await new Promise((r) => setImmediate(r));
    await k.terminate(late);
    expect(await second).toBe('AOS_E_AGENT_TERMINATED');
    for (const id of [early, late]) {
      expect(k.inspect(id).state).toBe('terminated');
      expect(await code(k.send(id, {}))).toBe('AOS_E_AGENT_TERMINATED');
    }
  });

  it('upgrades from a component file, the same checks first', async () => {
    const home = tempHome();
    const k = await openKernel({ home });
    await k.catalog.install(await sample('counter'));
    const id = await k.spawn('counter', { grants: GRANTS });
    await k.send(id, { by: 3 });
    // The counter's own code, re-signed as 1.1.0 and written to a file: it replays cleanly.
    const counter = readFileSync(await sample('counter'));
    const file = join(tempHome(), 'counter-1.1.0.wasm');
    writeFileSync(
      file,
      signedForTests(withoutCustomSections(counter, [SIGNATURE_SECTION], 'counter'), {
        ...readManifest(counter, 'counter')!,
        version: '1.1.0',
      }),
    );
    expect(await k.upgrade(id, file)).toMatchObject({
      from: '1.0.0',
      to: '1.1.0',
      replay: { identical: true, invocations: 1, checked: 1 },
    });
    expect(await k.send(id, { by: 1 })).toEqual({ count: 4 });
    // Its new bytes are kept in the data dir: it is restored on them after a restart.
    await k.close();
    const again = await openKernel({ home });
    expect(again.inspect(id)).toMatchObject({ state: 'ready', provenance: { version: '1.1.0' } });
    expect(await again.send(id, { by: 1 })).toEqual({ count: 5 });
    expect(await again.replay(id)).toMatchObject({ identical: true });
    // Another component's file is another name.
    expect(await codeOf(again.upgrade(id, await sample('echo')))).toMatch(
      /^AOS_E_BAD_ARGUMENT: .*runs counter; .* is echo/,
    );
    expect(await code(again.upgrade(id, file, { recent: -1 }))).toBe('AOS_E_BAD_ARGUMENT');
  });

  it('an upgraded agent restarts on its new version', async () => {
    const home = tempHome();
    const k = await openKernel({ home });
    await k.catalog.install(await sample('counter'));
    const id = await k.spawn('counter', { grants: GRANTS });
    await k.catalog.update(await asCounter(await sample('echo'), '2.0.0'));
    await k.upgrade(id, undefined, { force: true });
    await k.close();
    const again = await openKernel({ home });
    expect(await again.send(id, { text: 'still new' })).toMatchObject({ text: 'still new' });
  });
});

describe('restored agents and the trust store', () => {
  /** A data dir that trusts the dev key in its trust.json (not in code), with one counter in it. */
  async function spawned(): Promise<{ home: string; id: string }> {
    const home = tempHome();
    TrustStore.at(home).add(DEV_PUBLISHER, devKey().publicKey, { now: Date.now() });
    const k = await openKernel({ home, policy: {} });
    const id = await k.spawn(await sample('counter'), { grants: GRANTS });
    expect(await k.send(id, {})).toEqual({ count: 1 });
    await k.close();
    return { home, id };
  }

  it('an agent whose key was revoked since its spawn is not started at open; its mailbox stays', async () => {
    const { home, id } = await spawned();
    TrustStore.at(home).revoke(DEV_PUBLISHER, devKey().publicKey.id, Date.now());
    const k = await openKernel({ home, policy: {} });
    const info = k.inspect(id);
    expect(info.state).toBe('crashed');
    expect(info.lastError).toMatchObject({ code: 'AOS_E_KEY_REVOKED' });
    expect(info.lastError?.message).toMatch(/^cannot restore: /);
    expect(await code(k.send(id, {}))).toBe('AOS_E_BAD_STATE');
    // It can still be ended, its queued messages with it.
    await k.terminate(id);
    expect(k.inspect(id).state).toBe('terminated');
    await k.close();
    expect((await openKernel({ home, policy: {} })).inspect(id).state).toBe('terminated');
  });

  it('a failed restore does not change the state the agent was left in', async () => {
    const { home, id } = await spawned();
    let k = await openKernel({ home, policy: {} });
    k.suspend(id);
    k.post(id, { by: 100 });
    await k.close();
    const trust = TrustStore.at(home);
    trust.revoke(DEV_PUBLISHER, devKey().publicKey.id, Date.now());
    k = await openKernel({ home, policy: {} });
    expect(k.inspect(id)).toMatchObject({ state: 'crashed', lastError: { code: 'AOS_E_KEY_REVOKED' } });
    await k.close();
    trust.add(DEV_PUBLISHER, devKey().publicKey, { now: Date.now() }); // trusted again
    k = await openKernel({ home, policy: {} });
    expect(k.inspect(id)).toMatchObject({ state: 'suspended', mailbox: 1 });
    expect(k.inspect(id).stats.invocations).toBe(1);
    k.resume(id);
    await until('the queued message is handled', () => k.inspect(id).mailbox === 0 && !k.inspect(id).busy);
    expect(await k.send(id, {})).toEqual({ count: 102 });
  });

  it("other signed bytes put in place of an agent's component are refused at open", async () => {
    const { home, id } = await spawned();
    let k = await openKernel({ home, policy: {} });
    const path = join(home, 'components', `${k.inspect(id).digest}.wasm`);
    await k.close();
    // echo, signed by the same trusted key: its signature is good, but it is not this agent's component.
    writeFileSync(path, readFileSync(await sample('echo')));
    k = await openKernel({ home, policy: {} });
    expect(k.inspect(id).lastError).toMatchObject({
      code: 'AOS_E_DIGEST_MISMATCH',
      message: expect.stringMatching(/was changed: its bytes now hash to/),
    });
    expect(await code(k.send(id, { text: 'not echo' }))).toBe('AOS_E_BAD_STATE');
  });

  it('a publisher trusted with less, and bytes changed in the data dir, stop the agent too', async () => {
    const narrowed = await spawned();
    TrustStore.at(narrowed.home).add(DEV_PUBLISHER, devKey().publicKey, {
      now: Date.now(),
      capabilities: ['log'],
    });
    let k = await openKernel({ home: narrowed.home, policy: {} });
    expect(k.inspect(narrowed.id).lastError).toMatchObject({ code: 'AOS_E_IMPORT_NOT_GRANTED' });
    await k.close();

    const tampered = await spawned();
    k = await openKernel({ home: tampered.home, policy: {} });
    const path = join(tampered.home, 'components', `${k.inspect(tampered.id).digest}.wasm`);
    await k.close();
    const bytes = readFileSync(path);
    bytes[bytes.length >> 1]! ^= 1; // in the code, not in a custom section
    writeFileSync(path, bytes);
    k = await openKernel({ home: tampered.home, policy: {} });
    // Its bytes no longer hash to the digest it is kept under: refused before its signature is read.
    expect(k.inspect(tampered.id).lastError?.code).toBe('AOS_E_DIGEST_MISMATCH');
    // Trusted as before, untouched: it starts as ever.
    const fine = await spawned();
    k = await openKernel({ home: fine.home, policy: {} });
    expect(await k.send(fine.id, {})).toEqual({ count: 2 });
  });
});
