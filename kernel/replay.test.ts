/**
 * `kernel.replay`: a recorded run re-executed in an isolated kernel, every hostcall answered from
 * the journal, checked call by call, outcome by outcome, fuel included; and the first difference
 * found when the component changed.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { codeOf } from '../testing/expect-error.js';
import { fixture, messenger, openKernel, PROBE_GRANTS, sample, signedForTests } from '../testing/harness.js';
import { SIGNATURE_SECTION } from './signing/format.js';
import { readManifest } from './signing/manifest.js';
import { withoutCustomSections } from './signing/sections.js';

const code = async (p: Promise<unknown>): Promise<string> => (await codeOf(p)).split(':')[0]!;

describe('kernel.replay', () => {
  it('replays a run that used working memory, the clock, random numbers, logs, a crash and a guest error, identically', async () => {
    const k = await openKernel();
    const id = await k.spawn(await fixture('probe'), { grants: PROBE_GRANTS });
    await k.send(id, {
      op: 'wm',
      calls: [
        ['set', 'a', '1'],
        ['get', 'a'],
        ['list', '', 10],
      ],
    });
    await k.send(id, { op: 'random', n: 3, bytes: 8 });
    await k.send(id, { op: 'clock' });
    await k.send(id, { op: 'log', message: 'hello' });
    await k.send(id, { op: 'sleep', ms: 50 });
    await codeOf(k.send(id, { op: 'fail' }));
    await codeOf(k.send(id, { op: 'trap' })); // a crash: the next message starts a new instance
    await k.send(id, { op: 'echo', n: 1 });
    const report = await k.replay(id);
    expect(report).toMatchObject({ agent: id, identical: true });
    expect(report.divergence).toBeUndefined();
    expect(report.invocations).toBeGreaterThanOrEqual(8);
    expect(report.checked).toBe(report.invocations);
    expect(report.hostcalls).toBeGreaterThanOrEqual(10);
    // The replay ran in a kernel of its own: nothing here changed.
    expect(k.inspect(id).stats.invocations).toBeGreaterThanOrEqual(8);
    const journal = await k.journal(id);
    expect(journal.filter((e) => e.t === 'invoke').length).toBe(k.inspect(id).stats.invocations);
  });

  it('what the engine offers without a hostcall (Math.random, Date.now, crypto) is fixed at build, so it replays', async () => {
    const a = await openKernel();
    const b = await openKernel();
    const one = await a.spawn(await fixture('probe'), { grants: PROBE_GRANTS });
    const two = await b.spawn(await fixture('probe'), { grants: PROBE_GRANTS });
    const first = await a.send(one, { op: 'ambient' });
    await codeOf(a.send(one, { op: 'trap' })); // a new instance next, its heap rebuilt
    // The same sequence in a new instance (the first call redone in its rebuild), in another
    // agent, in another kernel, later.
    const second = await a.send(one, { op: 'ambient' });
    expect(second).not.toEqual(first);
    expect(await b.send(two, { op: 'ambient' })).toEqual(first);
    expect(await b.send(two, { op: 'ambient' })).toEqual(second);
    // The trap was tried three times (delivery attempts): each try replays as it ran.
    expect(await a.replay(one)).toMatchObject({ identical: true, invocations: 5 });
  });

  it('replays under the limits each call ran under, and skips calls ended from outside', async () => {
    const k = await openKernel({ maxResultBytes: 1024 });
    const id = await k.spawn(await fixture('probe'), {
      grants: PROBE_GRANTS,
      limits: { deadlineMs: 100, fuel: { lifetime: 4e10 } },
    });
    await codeOf(k.send(id, { op: 'sleep', ms: 400 })); // past its deadline, three times: cut short
    k.configure(id, { limits: { deadlineMs: null } }); // the next ones run as long as they take
    await k.send(id, { op: 'wm', calls: Array.from({ length: 40 }, () => ['list', '', 0]) });
    await codeOf(k.send(id, { op: 'random', n: 200 })); // a result over maxResultBytes
    k.configure(id, { limits: { fuel: { invocation: 1e6 } } });
    await codeOf(k.send(id, { op: 'spin', n: 1_000_000 })); // over the new, lower budget
    k.configure(id, { limits: { fuel: { invocation: 1e12 } } });
    await k.send(id, { op: 'spin', n: 1_000_000 });
    const report = await k.replay(id);
    expect(report.divergence).toBeUndefined();
    expect(report).toMatchObject({ identical: true, skipped: 3 });
    const journal = await k.journal(id);
    expect(journal.filter((e) => e.t === 'settings')).toHaveLength(3);
    expect(journal.filter((e) => e.t === 'outcome' && e.cut)).toHaveLength(3);
  });

  it('replays a spawn whose init failed as it failed, and refuses bad ranges and worlds', async () => {
    const k = await openKernel();
    await codeOf(k.spawn(await fixture('probe'), { grants: PROBE_GRANTS, config: { failInit: 'nope' } }));
    const [failed] = k.list();
    expect(await k.replay(failed!.id)).toMatchObject({ identical: true, invocations: 0 });
    const id = await k.spawn(await fixture('probe'), { grants: PROBE_GRANTS });
    await k.send(id, { op: 'echo' });
    expect(await code(k.replay(id, { from: 2, to: 1 }))).toBe('AOS_E_BAD_ARGUMENT');
    expect(await code(k.replay(id, { from: 5 }))).toBe('AOS_E_BAD_ARGUMENT');
    expect(await code(k.replay(id, { component: await sample('text-stats') }))).toBe('AOS_E_WRONG_WORLD');
    await k.close();
    expect(await code(k.replay(id))).toBe('AOS_E_KERNEL_CLOSED');
  });

  it('replays an agent that sends and calls other agents, without anything reaching them', async () => {
    const k = await openKernel();
    const a = await messenger(k, 'a');
    const b = await messenger(k, 'b');
    await k.send(a, { op: 'send', to: b, kind: 'task', body: 1 });
    await k.send(a, { op: 'call', to: b, kind: 'task', body: 21 });
    const before = k.inspect(b).stats.invocations;
    expect(await k.replay(a)).toMatchObject({ identical: true, invocations: 2 });
    expect(k.inspect(b).stats.invocations).toBe(before);
  });

  it('finds where a changed component first differs, with the recorded and the replayed call', async () => {
    const k = await openKernel();
    const id = await k.spawn(await sample('counter'), { grants: ['log', 'working-memory'] });
    for (let i = 0; i < 3; i++) await k.send(id, { by: 2 });
    // echo's code under the counter's manifest: it never reads working memory.
    const echo = readFileSync(await sample('echo'));
    const counter = readManifest(readFileSync(await sample('counter')), 'counter')!;
    const other = signedForTests(withoutCustomSections(echo, [SIGNATURE_SECTION], 'echo'), {
      ...counter,
      version: '2.0.0',
    });
    // echo's init already writes a log line the counter's never did.
    const report = await k.replay(id, { component: other });
    expect(report.identical).toBe(false);
    expect(report.divergence).toMatchObject({
      invocation: 0,
      hostcall: 0,
      what: 'extra-hostcall',
      expected: 'no hostcall (the recorded run made 0)',
    });
    expect(report.divergence?.actual).toMatch(/^log\.write\(/);
    // The counter's code in place of a probe that read another key: the same call, other arguments.
    const probe = await k.spawn(await fixture('probe'), { grants: PROBE_GRANTS });
    await k.send(probe, { op: 'wm', calls: [['get', 'other']] });
    const wrongKey = await k.replay(probe, { component: await sample('counter') });
    expect(wrongKey).toMatchObject({ identical: false, checked: 0 });
    expect(wrongKey.divergence).toMatchObject({
      invocation: 1,
      hostcall: 0,
      what: 'hostcall',
      expected: 'working-memory.get("other")',
      actual: 'working-memory.get("count")',
    });
    expect(wrongKey.divergence?.seq).toBeGreaterThan(0);
    // A component that needs a capability the recorded run was not granted cannot even start.
    const unlinked = await k.replay(id, { component: await fixture('messenger') });
    expect(unlinked).toMatchObject({ identical: false, invocations: 0 });
    expect(unlinked.divergence).toMatchObject({ invocation: 0, what: 'instance' });
    expect(unlinked.divergence?.actual).toMatch(/^AOS_E_IMPORT_NOT_GRANTED: .*imports agentos:kernel\/ipc/);
  });

  it('checks only from..to, and refuses what cannot be replayed', async () => {
    const k = await openKernel();
    const id = await k.spawn(await sample('counter'), { grants: ['log', 'working-memory'] });
    for (let i = 0; i < 5; i++) await k.send(id, {});
    expect(await k.replay(id, { from: 2, to: 3 })).toMatchObject({
      identical: true,
      invocations: 3,
      checked: 2,
    });
    expect(await code(k.replay('nobody-000000'))).toBe('AOS_E_AGENT_NOT_FOUND');
    expect(await code(k.replay(id, { from: -1 }))).toBe('AOS_E_BAD_ARGUMENT');
    expect(await code(k.replay(id, { component: '/nonexistent.wasm' }))).toBe('AOS_E_COMPONENT_NOT_FOUND');
    // Other bytes are held to the signing policy like any component.
    const bare = withoutCustomSections(readFileSync(await sample('counter')), [SIGNATURE_SECTION], 'counter');
    expect(await code(k.replay(id, { component: bare }))).toBe('AOS_E_UNSIGNED');
  });
});
