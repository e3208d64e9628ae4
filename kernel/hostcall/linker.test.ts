import { describe, expect, it } from 'vitest';
import { defaultCapabilities as CAPABILITIES } from '../../hostcalls/index.js';
import { AgentOSError } from '../base/errors.js';
import { checkGrants, HostcallTable, importProblems, link, parseGrants } from './linker.js';

const table = new HostcallTable(CAPABILITIES);

function failure(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(AgentOSError);
    return `${(e as AgentOSError).code}: ${(e as AgentOSError).message}`;
  }
  throw new Error('expected a failure');
}

describe('parseGrants', () => {
  it('parses names and scopes', () => {
    const g = parseGrants(['log', 'working-memory:read-only'], table);
    expect([...g.values()]).toEqual([
      { capability: 'log', scope: '' },
      { capability: 'working-memory', scope: 'read-only' },
    ]);
  });

  it('refuses an unknown capability, listing the known ones', () => {
    expect(failure(() => parseGrants(['filesystem'], table))).toMatch(
      /^AOS_E_UNKNOWN_CAPABILITY: grant "filesystem" names no capability; known: log, clock/,
    );
    expect(failure(() => parseGrants([''], table))).toMatch(/^AOS_E_UNKNOWN_CAPABILITY/);
    expect(failure(() => parseGrants(['types'], table))).toMatch(/^AOS_E_UNKNOWN_CAPABILITY/);
  });

  it('collects every problem of the grants, and refuses a capability granted twice', () => {
    const { grants, problems } = checkGrants(
      ['log', 'filesystem', 'log', 'ipc:send=a', 'ipc', 'inference'],
      table,
    );
    expect([...grants.keys()]).toEqual(['log', 'ipc']);
    expect(grants.get('ipc')).toEqual({ capability: 'ipc', scope: 'send=a' });
    expect(problems.map((p) => `${p.code}: ${p.message}`)).toEqual([
      expect.stringMatching(/^AOS_E_UNKNOWN_CAPABILITY: grant "filesystem"/),
      'AOS_E_BAD_CONFIG: grant "log" repeats log, already granted as "log"; grant each capability once, with its whole scope',
      'AOS_E_BAD_CONFIG: grant "ipc" repeats ipc, already granted as "ipc:send=a"; grant each capability once, with its whole scope',
      expect.stringMatching(/^AOS_E_CAPABILITY_UNAVAILABLE: grant "inference"/),
    ]);
  });

  it('keeps the last of a repeated grant when restoring a stored record', () => {
    expect(parseGrants(['ipc:send=a', 'ipc'], table).get('ipc')).toEqual({ capability: 'ipc', scope: '' });
    // Other problems are still refused, all at once.
    expect(() => parseGrants(['nope', 'types'], table)).toThrow(
      expect.objectContaining({
        code: 'AOS_E_UNKNOWN_CAPABILITY',
        details: { problems: [expect.anything(), expect.anything()] },
      }),
    );
  });

  it('refuses a capability this kernel does not provide yet', () => {
    expect(failure(() => parseGrants(['semantic-memory'], table))).toMatch(
      /^AOS_E_CAPABILITY_UNAVAILABLE: grant "semantic-memory": this kernel does not provide semantic-memory yet/,
    );
  });
});

describe('link', () => {
  const grants = parseGrants(['log'], table);

  it('plans each granted import under the key the glue reads, with numbered hostcalls', () => {
    const plan = link(['agentos:kernel/types@0.1.0', 'agentos:kernel/log@0.1.0'], grants, table, 'x.wasm');
    expect(Object.keys(plan)).toEqual(['agentos:kernel/log']);
    const id = plan['agentos:kernel/log']!.write!;
    expect(table.entries[id]!.span).toBe('log.write');
  });

  it('names JS functions the way jco does', () => {
    const plan = link(
      ['agentos:kernel/random@0.1.0', 'agentos:kernel/working-memory@0.1.0'],
      parseGrants(['random', 'working-memory'], table),
      table,
      'x',
    );
    expect(Object.keys(plan['agentos:kernel/random']!)).toEqual(['nextU64', 'bytes']);
    expect(Object.keys(plan['agentos:kernel/working-memory']!)).toEqual(['get', 'set', 'delete', 'list']);
  });

  it('refuses an import outside the kernel package, naming it', () => {
    expect(failure(() => link(['wasi:cli/stdout@0.2.0'], grants, table, 'x.wasm'))).toBe(
      "AOS_E_UNKNOWN_IMPORT: x.wasm imports wasi:cli/stdout@0.2.0, which is not an interface of agentos:kernel@0.1.0; a component may import only the kernel's interfaces",
    );
    expect(failure(() => link(['agentos:kernel/filesystem@0.1.0'], grants, table, 'x'))).toMatch(
      /^AOS_E_UNKNOWN_IMPORT/,
    );
    expect(failure(() => link(['connect'], grants, table, 'x'))).toMatch(
      /^AOS_E_UNKNOWN_IMPORT: x imports connect/,
    );
  });

  it('refuses another ABI version', () => {
    expect(failure(() => link(['agentos:kernel/log@0.2.0'], grants, table, 'x'))).toMatch(
      /^AOS_E_UNKNOWN_IMPORT: x imports agentos:kernel\/log@0.2.0, but this kernel speaks agentos:kernel@0.1.0/,
    );
  });

  it('refuses an interface the kernel does not provide yet, even if granted', () => {
    expect(failure(() => link(['agentos:kernel/semantic-memory@0.1.0'], grants, table, 'x'))).toBe(
      'AOS_E_CAPABILITY_UNAVAILABLE: x imports agentos:kernel/semantic-memory@0.1.0, which this kernel does not provide yet',
    );
  });

  it('names every import refused, in import order, in one error', () => {
    const imports = ['agentos:kernel/clock@0.1.0', 'wasi:cli/stdout@0.2.0', 'agentos:kernel/log@0.1.0'];
    expect(importProblems(imports, new Map(), table, 'x').map((p) => p.code)).toEqual([
      'AOS_E_IMPORT_NOT_GRANTED',
      'AOS_E_UNKNOWN_IMPORT',
      'AOS_E_IMPORT_NOT_GRANTED',
    ]);
    expect(failure(() => link(imports, grants, table, 'x')).split('\n')).toEqual([
      'AOS_E_IMPORT_NOT_GRANTED: x is refused for 2 problems:',
      '  AOS_E_IMPORT_NOT_GRANTED: x imports agentos:kernel/clock@0.1.0 but was not granted clock (granted: log)',
      expect.stringMatching(/^ {2}AOS_E_UNKNOWN_IMPORT: x imports wasi:cli\/stdout@0.2.0/),
    ]);
  });

  it('refuses an import that was not granted, naming it and the grants', () => {
    expect(failure(() => link(['agentos:kernel/clock@0.1.0'], grants, table, 'x'))).toBe(
      'AOS_E_IMPORT_NOT_GRANTED: x imports agentos:kernel/clock@0.1.0 but was not granted clock (granted: log)',
    );
  });
});
