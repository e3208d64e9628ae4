/**
 * A capability from outside the kernel: passed to Kernel.open beside the shipped ones and called
 * from a component built against its own WIT package.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { open } from 'lmdb';
import { beforeAll, describe, expect, test } from 'vitest';
import { defaultCapabilities } from '../../hostcalls/index.js';
import { Kernel } from '../../index.js';
import { codeOf } from '../../testing/expect-error.js';
import { openKernel, signedForTests, TEST_CACHE_DIR, tempHome } from '../../testing/harness.js';
import { buildWatComponent } from '../../toolchain/wat.js';
import { tally } from './index.js';

const here = (f: string): string => join(import.meta.dirname, f);
const common = readFileSync(join(import.meta.dirname, '../../testing/fixtures/common.wat.inc'), 'utf8');

let agentWasm: Uint8Array;
beforeAll(async () => {
  const built = await buildWatComponent(readFileSync(here('agent.wat'), 'utf8').replace(';;COMMON', common), {
    world: 'agent',
    extraPackages: { tally: readFileSync(here('tally.wit'), 'utf8') },
    extraWorldLines: ['import acme:tally/tally@0.1.0;'],
  });
  // Its manifest requests the capability its world imports; the dev key signs it.
  agentWasm = signedForTests(built, {
    name: 'tally-agent',
    version: '1.0.0',
    publisher: 'agentos-dev',
    description: 'adds the length of each message to its tally',
    world: 'agent',
    capabilities: ['tally'],
  });
}, 120_000);

const withTally = (home = tempHome(), max = 1000) =>
  openKernel({ home, capabilities: [...defaultCapabilities, tally], config: { tally: { max } } });

/** The agent's stored tally, read from the home's LMDB (the kernel closed). */
function stored(home: string, agent: string): number | undefined {
  const env = open({ path: join(home, 'db'), readOnly: true, maxDbs: 32 });
  try {
    return env.openDB<number, [string, string]>({ name: 'tally' }).get([agent, 'total']);
  } finally {
    void env.close();
  }
}

describe('a capability from outside the kernel', () => {
  test('is granted, called from a component (blocking and posted calls), journaled, and durable', async () => {
    const home = tempHome();
    let kernel = await withTally(home);
    const id = await kernel.spawn(agentWasm, { grants: ['tally'] });
    // '"hi"' is 4 bytes: add(4), then bump(1) answered in the worker, then total().
    expect(await kernel.send(id, 'hi')).toBe(5);
    expect(await kernel.send(id, 'hey')).toBe(11);
    const calls = (await kernel.journal(id))
      .filter((e) => e.t === 'hostcall')
      .map((e) => e.t === 'hostcall' && e.fn);
    expect(calls).toEqual([
      'tally.add',
      'tally.bump',
      'tally.total',
      'tally.add',
      'tally.bump',
      'tally.total',
    ]);
    await kernel.close();
    expect(stored(home, id)).toBe(11);
    kernel = await withTally(home);
    expect(await kernel.send(id, 'a')).toBe(15);
  });

  test('its options are checked at open: a bad one is refused and nothing is created', async () => {
    const home = join(tempHome(), 'never');
    expect(
      await codeOf(
        Kernel.open({ home, capabilities: [...defaultCapabilities, tally], config: { tally: { max: -1 } } }),
      ),
    ).toBe('AOS_E_BAD_CONFIG: config.tally: tally takes { max: a whole number >= 0 }, got {"max":-1}');
    expect(await codeOf(Kernel.open({ home, config: { tally: { max: 1 } } }))).toBe(
      'AOS_E_BAD_CONFIG: config.tally: no capability "tally" was given',
    );
    expect(existsSync(home)).toBe(false);
  });

  test("a call past its ceiling ends the invocation with the capability's error and stores nothing of that call", async () => {
    const home = tempHome();
    const kernel = await withTally(home, 6);
    const id = await kernel.spawn(agentWasm, { grants: ['tally'] });
    expect(await kernel.send(id, 'hi')).toBe(5);
    expect(await codeOf(kernel.send(id, 'hi'))).toMatch(
      /^AOS_E_AGENT_ERROR: .* returned quota-exceeded: tally of .* would reach 9, over 6$/,
    );
    await kernel.close();
    expect(stored(home, id)).toBe(5);
  });

  test('is refused where it is not granted, or not given to the kernel', async () => {
    const kernel = await withTally();
    expect(await codeOf(kernel.spawn(agentWasm, { grants: [] }))).toMatch(
      /AOS_E_IMPORT_NOT_GRANTED: .* imports acme:tally\/tally@0.1.0 but was not granted tally/,
    );
    expect(await codeOf(kernel.spawn(agentWasm, { grants: ['tally:more'] }))).toMatch(
      /AOS_E_BAD_CONFIG: .*grant "tally:more" for .*: tally takes no scope/,
    );
    const plain = await openKernel({ cacheDir: TEST_CACHE_DIR });
    expect(await codeOf(plain.spawn(agentWasm, { grants: [] }))).toMatch(
      /AOS_E_UNKNOWN_IMPORT: .* imports acme:tally\/tally@0.1.0, which is not an interface of agentos:kernel@0.1.0;/,
    );
    expect(await codeOf(plain.spawn(agentWasm, { grants: ['tally'] }))).toMatch(
      /AOS_E_UNKNOWN_CAPABILITY: grant "tally" names no capability/,
    );
  });

  test('forgets a terminated agent: its tally is dropped', async () => {
    const home = tempHome();
    const kernel = await withTally(home);
    const id = await kernel.spawn(agentWasm, { grants: ['tally'] });
    const other = await kernel.spawn(agentWasm, { grants: ['tally'] });
    await kernel.send(id, 'hi');
    await kernel.send(other, 'hi');
    await kernel.terminate(id);
    await kernel.close();
    expect(stored(home, id)).toBeUndefined();
    expect(stored(home, other)).toBe(5);
  });
});
