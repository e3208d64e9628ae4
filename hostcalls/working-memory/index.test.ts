import { join } from 'node:path';
import { open } from 'lmdb';
import { describe, expect, it } from 'vitest';
import type { Kernel } from '../../kernel/kernel.js';
import { fixture, openKernel, PROBE_GRANTS, tempHome } from '../../testing/harness.js';
import { MAX_KEY_BYTES, MAX_VALUE_BYTES } from './index.js';

let kernel: Kernel;

const wm = (id: string, ...calls: unknown[][]) => kernel.send(id, { op: 'wm', calls });

describe('working-memory', () => {
  it('gets, sets, deletes and lists, reading its own writes at once', async () => {
    kernel = await openKernel();
    const id = await kernel.spawn(await fixture('probe'), { grants: PROBE_GRANTS });
    expect(
      await wm(
        id,
        ['set', 'b', '2'],
        ['set', 'a', '1'],
        ['set', 'c/x', '3'],
        ['get', 'a'],
        ['list', '', 0],
        ['list', 'c/', 0],
        ['list', '', 2],
      ),
    ).toEqual([
      { ok: null },
      { ok: null },
      { ok: null },
      { ok: '1' },
      { ok: ['a', 'b', 'c/x'] },
      { ok: ['c/x'] },
      { ok: ['a', 'b'] },
    ]);
    expect(await wm(id, ['delete', 'a'], ['delete', 'a'], ['get', 'a'], ['list', '', 0])).toEqual([
      { ok: true },
      { ok: false },
      { ok: null },
      { ok: ['b', 'c/x'] },
    ]);
    await kernel.flushed();
    // After the commit, the same answers come from LMDB.
    expect(await wm(id, ['get', 'b'], ['list', '', 0])).toEqual([{ ok: '2' }, { ok: ['b', 'c/x'] }]);
  });

  it('keeps each agent in its own namespace', async () => {
    kernel = await openKernel();
    const a = await kernel.spawn(await fixture('probe'), { grants: PROBE_GRANTS });
    const b = await kernel.spawn(await fixture('probe'), { grants: PROBE_GRANTS });
    await wm(a, ['set', 'secret', 'from a']);
    expect(await wm(b, ['get', 'secret'], ['list', '', 0])).toEqual([{ ok: null }, { ok: [] }]);
    expect(await wm(a, ['get', 'secret'])).toEqual([{ ok: 'from a' }]);
  });

  it('refuses bad keys, oversized values and writes under a read-only grant, losing nothing', async () => {
    kernel = await openKernel({ maxMessageBytes: 4 << 20 });
    const id = await kernel.spawn(await fixture('probe'), { grants: PROBE_GRANTS });
    await wm(id, ['set', 'keep', 'me']);
    expect(
      await wm(
        id,
        ['set', '', 'x'],
        ['get', 'k'.repeat(MAX_KEY_BYTES + 1)],
        ['set', 'big', 'v'.repeat(MAX_VALUE_BYTES + 1)],
      ),
    ).toEqual([
      { err: { tag: 'invalid', val: 'working-memory key must be 1..512 bytes, got 0' } },
      { err: { tag: 'invalid', val: `working-memory key must be 1..512 bytes, got ${MAX_KEY_BYTES + 1}` } },
      {
        err: {
          tag: 'quota-exceeded',
          val: `working-memory value of ${MAX_VALUE_BYTES + 1} bytes exceeds ${MAX_VALUE_BYTES}`,
        },
      },
    ]);
    expect(await wm(id, ['get', 'keep'], ['get', 'big'])).toEqual([{ ok: 'me' }, { ok: null }]);

    const ro = await kernel.spawn(await fixture('probe'), {
      grants: ['log', 'clock', 'random', 'working-memory:read-only'],
    });
    expect(await wm(ro, ['set', 'k', 'v'], ['delete', 'k'], ['get', 'k'])).toEqual([
      { err: { tag: 'denied', val: 'working-memory is granted read-only to this agent' } },
      { err: { tag: 'denied', val: 'working-memory is granted read-only to this agent' } },
      { ok: null },
    ]);
  });

  it('refuses an unknown grant scope at spawn', async () => {
    kernel = await openKernel();
    await expect(
      kernel.spawn(await fixture('probe'), {
        grants: ['log', 'clock', 'random', 'working-memory:everything'],
      }),
    ).rejects.toMatchObject({
      code: 'AOS_E_BAD_CONFIG',
      message: expect.stringContaining('the only scope is "read-only"'),
    });
    expect(kernel.list()).toEqual([]);
  });

  it("forgets a terminated agent: its keys go, another agent's stay", async () => {
    const home = tempHome();
    kernel = await openKernel({ home });
    const gone = await kernel.spawn(await fixture('probe'), { grants: PROBE_GRANTS });
    const kept = await kernel.spawn(await fixture('probe'), { grants: PROBE_GRANTS });
    await wm(gone, ['set', 'a', '1'], ['set', 'b', '2']);
    await wm(kept, ['set', 'a', '3']);
    await kernel.terminate(gone);
    await kernel.close();
    const env = open({ path: join(home, 'db'), readOnly: true, maxDbs: 32 });
    const db = env.openDB<string, [string, string]>({ name: 'working-memory' });
    const owners = [...db.getKeys()].map((k) => (k as [string, string])[0]);
    await env.close();
    expect(owners).toEqual([kept]);
  });
});
