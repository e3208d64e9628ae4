import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
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

describe('spawn by digest', () => {
  it('spawns a component the kernel keeps from its sha256, checked as any spawn is', async () => {
    const home = tempHome();
    const kernel = await openKernel({ home });
    const first = await kernel.spawn(await fixture('echo-wat'));
    const digest = kernel.inspect(first).digest;
    const again = await kernel.spawn(`sha256:${digest}`);
    expect(kernel.inspect(again)).toMatchObject({ digest, world: 'agent', state: 'ready' });
    expect(await kernel.send(again, { n: 1 })).toEqual({ n: 1 });
    // Its options are checked like any spawn's, and a refusal stores nothing.
    const bad = await refused(kernel.spawn(`sha256:${digest}`, { grants: ['nope'] }));
    expect(bad.code).toBe('AOS_E_UNKNOWN_CAPABILITY');
    expect(kernel.list()).toHaveLength(2);
  });

  it('refuses a digest the kernel does not keep, and stored bytes that were changed', async () => {
    const { kernel, nothingStored } = await kernelOnHome();
    const unknown = await refused(kernel.spawn(`sha256:${'0'.repeat(64)}`));
    expect(unknown.code).toBe('AOS_E_COMPONENT_NOT_FOUND');
    nothingStored();
    // Not a digest (63 hex digits): read as a path or an installed name, and not found.
    const short = await refused(kernel.spawn(`sha256:${'0'.repeat(63)}`));
    expect(short.code).not.toBe('AOS_E_DIGEST_MISMATCH');
  });

  it('refuses stored bytes changed in the data dir before they are read back', async () => {
    const home = tempHome();
    const kernel = await openKernel({ home });
    const first = await kernel.spawn(await fixture('echo-wat'));
    await kernel.close();
    const reopened = await openKernel({ home });
    const kept = reopened.inspect(first).digest;
    const path = join(home, 'components', `${kept}.wasm`);
    const bytes = readFileSync(path);
    bytes[bytes.length - 1] = (bytes.at(-1) ?? 0) ^ 0xff;
    writeFileSync(path, bytes);
    const e = await refused(reopened.spawn(`sha256:${kept}`));
    expect(e.code).toBe('AOS_E_DIGEST_MISMATCH');
  });
});
