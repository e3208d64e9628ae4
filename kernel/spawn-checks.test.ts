import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixture, openKernel, PROBE_GRANTS, tempHome } from '../testing/harness.js';
import { AgentOSError, type Problem } from './base/errors.js';
import type { Kernel, SpawnOptions } from './kernel.js';

/** The error a spawn is refused with (it must be refused). */
async function refused(p: Promise<unknown>): Promise<AgentOSError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(AgentOSError);
    return e as AgentOSError;
  }
  throw new Error('expected spawn to be refused');
}

const problems = (e: AgentOSError): Problem[] => e.details.problems as Problem[];

/** A kernel on a fresh data dir, and a check that nothing was stored in it. */
async function kernelOnHome(): Promise<{ kernel: Kernel; nothingStored: () => void }> {
  const home = tempHome();
  const kernel = await openKernel({ home });
  return {
    kernel,
    nothingStored: () => {
      const dir = join(home, 'components');
      expect(existsSync(dir) ? readdirSync(dir) : []).toEqual([]);
      expect(kernel.list()).toEqual([]);
    },
  };
}

describe('spawn lists every problem at once', () => {
  it('imports first, then grants, grant scopes and options, in one error', async () => {
    const { kernel, nothingStored } = await kernelOnHome();
    const probe = await fixture('probe');
    const e = await refused(
      kernel.spawn(probe, {
        grants: ['log', 'log', 'filesystem', 'working-memory:loud'],
        seed: -1,
        priority: 'urgent' as 'normal',
      }),
    );
    expect(e.code).toBe('AOS_E_IMPORT_NOT_GRANTED');
    expect(problems(e).map((p) => p.code)).toEqual([
      'AOS_E_IMPORT_NOT_GRANTED',
      'AOS_E_IMPORT_NOT_GRANTED',
      'AOS_E_BAD_CONFIG',
      'AOS_E_UNKNOWN_CAPABILITY',
      'AOS_E_BAD_CONFIG',
      'AOS_E_BAD_CONFIG',
      'AOS_E_BAD_CONFIG',
    ]);
    expect(e.message.split('\n')).toEqual([
      `${probe} is refused for 7 problems:`,
      expect.stringMatching(
        /^ {2}AOS_E_IMPORT_NOT_GRANTED: .* imports agentos:kernel\/clock@0.1.0 but was not granted clock/,
      ),
      expect.stringMatching(/^ {2}AOS_E_IMPORT_NOT_GRANTED: .* imports agentos:kernel\/random@0.1.0/),
      '  AOS_E_BAD_CONFIG: grant "log" repeats log, already granted as "log"; grant each capability once, with its whole scope',
      expect.stringMatching(/^ {2}AOS_E_UNKNOWN_CAPABILITY: grant "filesystem" names no capability/),
      `  AOS_E_BAD_CONFIG: grant "working-memory:loud" for ${probe}: the only scope is "read-only"`,
      '  AOS_E_BAD_CONFIG: seed must fit in a u64, got -1',
      expect.stringMatching(/^ {2}AOS_E_BAD_CONFIG: priority must be one of/),
    ]);
    nothingStored();
  });

  it("refuses exports that have the world's names but not its types, with the other problems", async () => {
    const { kernel, nothingStored } = await kernelOnHome();
    const wrong = await fixture('wrong-handle');
    const e = await refused(kernel.spawn(wrong, { grants: ['lgo'] }));
    expect(e.code).toBe('AOS_E_BAD_EXPORTS');
    expect(problems(e)).toEqual([
      {
        code: 'AOS_E_BAD_EXPORTS',
        message: `${wrong} exports handle: func(x: u32) -> u32, but the agent world has handle: func(message: message) -> result<outcome, error>`,
      },
      {
        code: 'AOS_E_UNKNOWN_CAPABILITY',
        message: expect.stringMatching(/^grant "lgo" names no capability/),
      },
    ]);
    // Alone, a problem keeps its own message.
    const alone = await refused(kernel.spawn(await fixture('short-message')));
    expect(alone.code).toBe('AOS_E_BAD_EXPORTS');
    expect(alone.message).toMatch(/ exports handle: .* the same names, other types: message is record\{/);
    nothingStored();
  });

  it("runs a component that declares the world's types itself", async () => {
    const kernel = await openKernel();
    const id = await kernel.spawn(await fixture('echo-own-types'));
    expect(await kernel.send(id, { text: 'own types' })).toEqual({ text: 'own types' });
  });
});

describe('bad input to spawn is refused before anything is stored', () => {
  it('refuses each kind with its code and stores nothing', async () => {
    const { kernel, nothingStored } = await kernelOnHome();
    const echo = await fixture('echo-wat');
    let deep: unknown = {};
    for (let i = 0; i < 100_000; i++) deep = { deep };
    const cases: [SpawnOptions, string, RegExp][] = [
      [
        { grants: ['log:loud'] },
        'AOS_E_BAD_CONFIG',
        /^grant "log:loud" for .*echo-wat-\w+\.wasm: log takes no scope$/,
      ],
      [
        { grants: ['events:;;; anything'] },
        'AOS_E_BAD_CONFIG',
        /^grant "events:;;; anything" for .*: ";;; anything" is not an event-kind prefix/,
      ],
      [
        { grants: ['events:agent.||quota.'] },
        'AOS_E_BAD_CONFIG',
        /^grant "events:agent.\|\|quota." for .*: "" is not/,
      ],
      [{ grants: ['log', 'log'] }, 'AOS_E_BAD_CONFIG', /^grant "log" repeats log, already granted as "log"/],
      [
        { grants: ['ipc:send=a', 'ipc'] },
        'AOS_E_BAD_CONFIG',
        /^grant "ipc" repeats ipc, already granted as "ipc:send=a"/,
      ],
      [
        { grants: 'log' as unknown as string[] },
        'AOS_E_BAD_ARGUMENT',
        /^grants must be an array of strings$/,
      ],
      [{ config: { n: Number.NaN } }, 'AOS_E_BAD_CONFIG', /^config is not JSON-serialisable: NaN .* at \.n$/],
      [
        { config: ['\udc00'] },
        'AOS_E_BAD_CONFIG',
        /^config is not JSON-serialisable: a string with a lone surrogate U\+DC00/,
      ],
      [
        { config: deep },
        'AOS_E_BAD_CONFIG',
        /^config is not JSON-serialisable: nesting deeper than 1000 levels/,
      ],
      [{ name: 5 as unknown as string }, 'AOS_E_BAD_CONFIG', /^name must be a string, got number$/],
      [
        { grant: ['log'] } as SpawnOptions,
        'AOS_E_BAD_CONFIG',
        /^spawn has no option "grant" \(known: grants, /,
      ],
      [null as unknown as SpawnOptions, 'AOS_E_BAD_ARGUMENT', /^spawn options must be an object$/],
    ];
    for (const [options, code, re] of cases) {
      const e = await refused(kernel.spawn(echo, options));
      expect(e.code, e.message).toBe(code);
      expect(e.message).toMatch(re);
      nothingStored();
    }
    // The same grants, well formed, are taken.
    const id = await kernel.spawn(readFileSync(echo), { grants: ['events:agent.|quota.', 'ipc:send=a'] });
    expect(kernel.inspect(id).grants).toEqual(['events:agent.|quota.', 'ipc:send=a']);
  });

  it('stores nothing when a check other than the first fails', async () => {
    const { kernel, nothingStored } = await kernelOnHome();
    // Grants and imports fine, the scope of the last grant not.
    const e = await refused(
      kernel.spawn(await fixture('probe'), { grants: [...PROBE_GRANTS, 'events:x y'] }),
    );
    expect(problems(e).map((p) => p.code)).toEqual(['AOS_E_BAD_CONFIG']);
    nothingStored();
  });
});
