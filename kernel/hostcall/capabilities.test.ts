import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { defaultCapabilities } from '../../hostcalls/index.js';
import { Kernel } from '../../index.js';
import { codeOf } from '../../testing/expect-error.js';
import {
  FIXTURES,
  fixture,
  fixtureManifest,
  openKernel,
  PROBE_GRANTS,
  signedForTests,
  tempHome,
} from '../../testing/harness.js';
import { defineCapability } from '../sdk/capability.js';
import { CapabilityHost } from './capabilities.js';
import { importProblems, link, parseGrants } from './linker.js';

const plain = (over: Record<string, unknown> = {}) =>
  defineCapability({
    name: 'stamp',
    package: 'acme:stamp',
    version: '0.1.0',
    configure: () => ({}),
    functions: { now: () => 1n },
    ...over,
  } as never);

const problems = async (list: unknown, config?: unknown): Promise<string[]> => {
  try {
    await CapabilityHost.check(list, config);
  } catch (e) {
    return (e as { details: { problems: string[] } }).details.problems;
  }
  return [];
};

describe('the capabilities a kernel is given', () => {
  test('takes the shipped ones, and one of its own package beside them', async () => {
    const host = await CapabilityHost.check([...defaultCapabilities, plain()], undefined);
    expect(host.table.of('acme:stamp', 'stamp')?.name).toBe('stamp');
    expect(host.table.of('agentos:kernel', 'stamp')).toBeUndefined();
    expect(host.table.otherPackages()).toEqual(['acme:stamp@0.1.0']);
  });

  test('refuses every bad declaration at once, naming each', async () => {
    expect(
      await problems([
        plain({ name: 'Bad_Name' }),
        plain({ package: 'agentos:kernel', name: 'filesystem', version: undefined }),
        plain({ version: undefined }),
        plain({ name: 'x', package: 'nocolon' }),
        plain({ name: 'y', needs: ['network'] }),
        plain({ name: 'z', posted: { now: () => {} } }),
        plain({ name: 'w', posted: { later: () => {} }, worker: 'file:///nowhere.js' }),
        plain({ name: 'v', functions: { Now: () => 1 } }),
        plain({ name: 'u', configure: undefined }),
      ]),
    ).toEqual([
      'capability "Bad_Name": its name must be a WIT interface name (kebab-case), got "Bad_Name"',
      'capability "filesystem": agentos:kernel has no interface "filesystem"; a capability of its own names its own package',
      'capability "stamp": package acme:stamp needs a version (x.y.z), got undefined',
      'capability "x": package must be a WIT package name (namespace:name), got "nocolon"',
      'capability "y": needs "network", which is no service (there are clock, timers, logger, storage, mailer, events)',
      'capability "z": posted functions need a worker module (worker: its URL)',
      'capability "w": posted.later has no function of that name',
      'capability "v": function "Now" is not a WIT function name',
      'capability "u": configure must be a function',
    ]);
    expect(await codeOf(CapabilityHost.check('log', undefined))).toBe(
      'AOS_E_BAD_CONFIG: capabilities must be an array of capabilities, got string',
    );
  });

  test('refuses a name given twice, and a worker module that does not answer what is posted', async () => {
    expect(await problems([...defaultCapabilities, defaultCapabilities[0]])).toEqual([
      'capability "log" is given twice',
    ]);
    const log = defaultCapabilities.find((c) => c.name === 'log')!;
    const ipc = defaultCapabilities.find((c) => c.name === 'ipc')!;
    // log's worker module answers `write`; given as ipc's, it does not answer `send`.
    expect(await problems([{ ...ipc, worker: log.worker }])).toEqual([
      `capability "ipc": its worker module ${log.worker} answers write but it posts send`,
    ]);
    expect(await problems([{ ...log, worker: 'file:///nowhere/local.js' }])).toEqual([
      expect.stringMatching(
        /^capability "log": its worker module file:\/\/\/nowhere\/local.js does not load: /,
      ),
    ]);
  });

  test("checks options: each capability's own check, and none for a capability not given", async () => {
    const sized = plain({
      config: (raw: unknown) => {
        if (raw !== undefined && typeof raw !== 'number') throw new Error('size must be a number');
        return raw ?? 1;
      },
    });
    expect(await problems([sized], { stamp: 'big', other: 1 })).toEqual([
      'config.other: no capability "other" was given',
    ]);
    expect(await problems([sized], { stamp: 'big' })).toEqual(['config.stamp: size must be a number']);
    expect(await problems([plain()], { stamp: 2 })).toEqual([
      'config.stamp: capability "stamp" takes no options',
    ]);
    expect(await problems([plain()], [1])).toEqual([
      'config must be an object of options by capability name, got [1]',
    ]);
    expect(await problems([sized], { stamp: 3 })).toEqual([]);
  });

  test('hands a capability only the services it names; another throws when read', async () => {
    let seen: Record<string, unknown> = {};
    const needy = plain({
      needs: ['clock'],
      init: (services: Record<string, unknown>) => {
        seen = services;
        return null;
      },
    });
    const host = await CapabilityHost.check([needy], undefined);
    const clock = { now: () => 1n };
    host.start({ clock, timers: {}, logger: {}, store: { batch: {} }, bus: {}, events: {} } as never);
    expect(seen.clock).toBe(clock);
    expect(() => seen.mailer).toThrow(
      'capability "stamp" uses the mailer service but does not name it in needs',
    );
  });

  test("a capability's own bug in init or configure is a coded error naming it, and the home is left usable", async () => {
    const home = tempHome();
    const broken = plain({
      init: () => {
        throw new TypeError('boom in init');
      },
    });
    expect(await codeOf(Kernel.open({ home, capabilities: [broken], logLevel: 'silent' }))).toBe(
      'AOS_E_INTERNAL: capability "stamp" failed to start (init): boom in init',
    );
    const picky = plain({
      configure: () => {
        throw new TypeError('boom in configure');
      },
    });
    const kernel = await openKernel({ home, capabilities: [...defaultCapabilities, picky] });
    // The probe, with a manifest that requests stamp too: only a requested grant is configured.
    const probe = signedForTests(readFileSync(await fixture('probe')), {
      ...fixtureManifest('probe', FIXTURES.probe),
      capabilities: [...PROBE_GRANTS, 'stamp'],
    });
    const refused = await codeOf(kernel.spawn(probe, { grants: [...PROBE_GRANTS, 'stamp'] }));
    expect(refused).toMatch(/AOS_E_INTERNAL: .*capability "stamp" failed to configure .*: boom in configure/);
    expect(kernel.list()).toEqual([]);
  });

  test('refuses an import of a given package at another version, or of an interface the package lacks', async () => {
    const host = await CapabilityHost.check([...defaultCapabilities, plain()], undefined);
    const grants = parseGrants(['stamp'], host.table);
    expect(
      importProblems(
        ['acme:stamp/stamp@0.2.0', 'acme:stamp/other@0.1.0', 'acme:stamp/stamp@0.1.0'],
        grants,
        host.table,
        'x.wasm',
      ).map((e) => `${e.code}: ${e.message}`),
    ).toEqual([
      'AOS_E_UNKNOWN_IMPORT: x.wasm imports acme:stamp/stamp@0.2.0, but this kernel speaks acme:stamp@0.1.0; rebuild the component against it',
      "AOS_E_UNKNOWN_IMPORT: x.wasm imports acme:stamp/other@0.1.0, which is not an interface of agentos:kernel@0.1.0 nor of acme:stamp@0.1.0; a component may import only the kernel's interfaces",
    ]);
    expect(link(['acme:stamp/stamp@0.1.0'], grants, host.table, 'x.wasm')).toEqual({
      'acme:stamp/stamp': { now: host.table.entries.find((e) => e.span === 'stamp.now')!.id },
    });
  });
});
