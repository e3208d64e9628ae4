/**
 * The CLI's migration: an agent exported from one data dir by one process and imported into
 * another by another process continues its count there; the source refuses it afterwards.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { agentos } from '../testing/cli-runner.js';
import { sample, tempHome } from '../testing/harness.js';

describe('agentos export and import', () => {
  it('moves an agent between data dirs and processes; it counts on there and is refused here', async () => {
    const from = { AGENTOS_HOME: tempHome() };
    const to = { AGENTOS_HOME: tempHome() };
    const spawned = await agentos(['spawn', await sample('counter'), '--grant', 'log,working-memory'], from);
    const { id } = JSON.parse(spawned.stdout) as { id: string };
    for (const by of [2, 3]) await agentos(['send', id, '--message', JSON.stringify({ by })], from);
    const file = join(tempHome(), 'counter.bundle');
    const exported = await agentos(['export', id, '-o', file], from);
    expect(exported.code, exported.stderr).toBe(0);
    expect(JSON.parse(exported.stdout)).toMatchObject({ id, bundle: file, bytes: expect.any(Number) });
    expect(existsSync(file)).toBe(true);

    const imported = await agentos(['import', file], to);
    expect(imported.code, imported.stderr).toBe(0);
    expect(JSON.parse(imported.stdout)).toMatchObject({ id, state: 'ready', messages: 0 });
    const next = await agentos(['send', id, '--message', '{"by":1}'], to);
    expect(JSON.parse(next.stdout)).toEqual({ count: 6 });
    expect(JSON.parse((await agentos(['replay', id], to)).stdout)).toMatchObject({ identical: true });

    const refused = await agentos(['send', id, '--message', '{"by":1}'], from);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^AOS_E_AGENT_EXPORTED: /);
    const again = await agentos(['import', file], to);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^AOS_E_AGENT_EXISTS: /);
    const missing = await agentos(['export'], from);
    expect(missing.code).toBe(2);
  }, 180_000);
});
