/**
 * Whole-system record and replay: a multi-agent run (working memory, ipc send, call and publish,
 * clock, random, preemption) recorded into one bundle and replayed identically, here and in
 * another process with its own data dir; and every kind of damaged bundle refused.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { Kernel } from '../index.js';
import { codeOf } from '../testing/expect-error.js';
import {
  fixture,
  messenger,
  openKernel,
  PROBE_GRANTS,
  TEST_CACHE_DIR,
  tempHome,
} from '../testing/harness.js';
import { devTrust } from '../toolchain/dev-key.js';
import { packageRoot } from './base/paths.js';
import { decodeBundle, encodeBundle } from './replay/bundle.js';

let bundle: Buffer;
let agents: string[];

/** A run of five agents: two probes spinning against one CPU (preempted), and three messengers. */
async function recordScenario(): Promise<void> {
  const k = await openKernel({ cpus: 1, workers: 4, sliceFuel: 2_000_000 });
  const p1 = await k.spawn(await fixture('probe'), { grants: PROBE_GRANTS, name: 'p1' });
  const p2 = await k.spawn(await fixture('probe'), { grants: PROBE_GRANTS, name: 'p2' });
  const a = await messenger(k, 'a');
  const b = await messenger(k, 'b');
  const c = await messenger(k, 'c');
  await k.send(c, { op: 'subscribe', channel: 'news' });
  await Promise.all([
    k.send(p1, { op: 'spin', n: 150_000 }),
    k.send(p2, { op: 'spin', n: 150_000 }),
    k.send(p1, {
      op: 'wm',
      calls: [
        ['set', 'x', '1'],
        ['get', 'x'],
      ],
    }),
    k.send(p2, { op: 'random', n: 2 }),
    k.send(p1, { op: 'clock' }),
    k.send(a, { op: 'send', to: b, kind: 'task', body: 5 }),
    k.send(a, { op: 'call', to: b, kind: 'task', body: 21 }),
    k.send(a, { op: 'publish', channel: 'news', kind: 'alert', body: 'storm' }),
  ]);
  await k.send(c, { op: 'inbox' });
  expect(k.inspect(p1).stats.parks + k.inspect(p2).stats.parks).toBeGreaterThan(0);
  agents = [p1, p2, a, b, c];
  bundle = await k.record();
}

beforeAll(recordScenario, 120_000);

const trusted = {
  cacheDir: TEST_CACHE_DIR,
  logLevel: 'silent' as const,
  policy: { trust: devTrust() },
  home: tempHome(),
};

describe('record and replay of a whole run', () => {
  it('replays every agent of the bundle identically, with the order of invocations across them', async () => {
    const contents = decodeBundle(bundle, 'the bundle');
    expect(contents.agents.map((a) => a.record.id).sort()).toEqual([...agents].sort());
    expect(Object.keys(contents.components)).toHaveLength(2); // probe and messenger
    expect(contents.order.length).toBeGreaterThanOrEqual(10);
    const report = await Kernel.replayBundle(bundle, trusted);
    expect(report.identical).toBe(true);
    expect(report.agents.map((r) => r.agent).sort()).toEqual([...agents].sort());
    expect(report.invocations).toBe(contents.order.length);
    // b received a's send and call; c received the publish: their inputs are in the bundle.
    for (const r of report.agents) expect(r.invocations).toBeGreaterThanOrEqual(1);
    const one = await Kernel.replayBundle(bundle, { ...trusted, agents: [agents[2]!] });
    expect(one.agents.map((r) => r.agent)).toEqual([agents[2]]);
    expect(await codeOf(Kernel.replayBundle(bundle, { ...trusted, agents: ['nobody-000000'] }))).toMatch(
      /^AOS_E_AGENT_NOT_FOUND/,
    );
  });

  it('replays in another process, from the file alone, on a data dir that trusts the publisher', async () => {
    const file = join(tempHome(), 'run.bundle');
    writeFileSync(file, bundle);
    const home = tempHome();
    const cli = join(packageRoot(), 'dist', 'toolchain', 'cli', 'main.js');
    const run = (args: string[]) =>
      promisify(execFile)(process.execPath, [cli, ...args, '--home', home], {
        env: { ...process.env, AGENTOS_CACHE: TEST_CACHE_DIR },
      }).then(
        (r) => ({ code: 0, ...r }),
        (e: { code: number; stdout: string; stderr: string }) => e,
      );
    // This data dir trusts nobody yet: the bundled components are refused.
    expect((await run(['replay', file])).stderr).toMatch(/^AOS_E_UNTRUSTED_KEY/);
    const pub = join(packageRoot(), '.agentos', 'keys', 'dev.key.pub');
    expect((await run(['trust', 'add', 'agentos-dev', pub])).code).toBe(0);
    const ok = await run(['replay', file]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({
      identical: true,
      invocations: decodeBundle(bundle, 'b').order.length,
    });
  }, 120_000);

  it('refuses a damaged bundle with what is wrong, and replays nothing', async () => {
    const bad = async (bytes: Uint8Array) => codeOf(Kernel.replayBundle(bytes, trusted));
    expect(await bad(Buffer.from('not a bundle at all'))).toMatch(
      /^AOS_E_BAD_BUNDLE: .*does not start with AOSBNDL1/,
    );
    expect(await bad(bundle.subarray(0, 5))).toMatch(/too short/);
    expect(await bad(bundle.subarray(0, bundle.length - 100))).toMatch(
      /cut short \(\d+ of \d+ payload bytes\)/,
    );
    expect(await bad(Buffer.concat([bundle, Buffer.from([0])]))).toMatch(/1 bytes after its payload/);
    const flipped = Buffer.from(bundle);
    flipped[flipped.length >> 1]! ^= 1;
    expect(await bad(flipped)).toMatch(/does not match its checksum/);
    const future = Buffer.from(bundle);
    future.writeUInt32LE(99, 8);
    expect(await bad(future)).toMatch(/it is format 99; this AgentOS reads format 1/);
    // Well-formed files whose contents do not hold together.
    const contents = decodeBundle(bundle, 'b');
    const [digest] = Object.keys(contents.components);
    const swapped = {
      ...contents,
      components: { ...contents.components, [digest!]: Buffer.from('other bytes') },
    };
    expect(await bad(encodeBundle(swapped))).toMatch(/component .* does not match its digest/);
    const gap = structuredClone(contents);
    gap.agents[0]!.entries.splice(2, 1);
    expect(await bad(encodeBundle(gap))).toMatch(/journal entry 2 is not in sequence/);
    const stray = { ...contents, order: [...contents.order, ['nobody-000000', 0] as [string, number]] };
    expect(await bad(encodeBundle(stray))).toMatch(/its order names/);
    const missing = { ...contents, components: {} };
    expect(await bad(encodeBundle(missing))).toMatch(/which the bundle lacks/);
    expect(await codeOf(Kernel.replayBundle(join(tempHome(), 'none.bundle'), trusted))).toMatch(
      /^AOS_E_COMPONENT_NOT_FOUND: cannot read/,
    );
    // Untrusted publisher: refused before anything runs.
    expect(await codeOf(Kernel.replayBundle(bundle, { ...trusted, policy: {} }))).toMatch(
      /^AOS_E_UNTRUSTED_KEY/,
    );
  });

  it('records what it is asked to, and refuses an agent it does not have', async () => {
    const k = await openKernel();
    const id = await messenger(k, 'solo');
    await k.send(id, { op: 'inbox' });
    const only = decodeBundle(await k.record({ agents: [id] }), 'b');
    expect(only.agents.map((a) => a.record.id)).toEqual([id]);
    expect(await codeOf(k.record({ agents: ['nobody-000000'] }))).toMatch(/^AOS_E_AGENT_NOT_FOUND/);
  });
});
