/** The CLI's replay: a recorded agent re-run from its journal, and the first difference shown. */
import { describe, expect, it } from 'vitest';
import { agentos } from '../testing/cli-runner.js';
import { sample, tempHome } from '../testing/harness.js';

describe('agentos replay', () => {
  it('replays an agent run across commands identically, and shows where another component differs', async () => {
    const env = { AGENTOS_HOME: tempHome() };
    const spawned = await agentos(['spawn', await sample('counter'), '--grant', 'log,working-memory'], env);
    const { id } = JSON.parse(spawned.stdout) as { id: string };
    for (const by of [1, 2, 3]) await agentos(['send', id, '--message', JSON.stringify({ by })], env);
    const same = await agentos(['replay', id], env);
    expect(same.code, same.stderr).toBe(0);
    expect(JSON.parse(same.stdout)).toMatchObject({ agent: id, identical: true, invocations: 3, checked: 3 });
    const part = await agentos(['replay', id, '--from', '2', '--to', '2'], env);
    expect(JSON.parse(part.stdout)).toMatchObject({ identical: true, invocations: 2, checked: 1 });
    // echo's code logs in init, where the counter did nothing.
    const other = await agentos(['replay', id, '--component', await sample('echo')], env);
    expect(other.code).toBe(1);
    expect(JSON.parse(other.stdout)).toMatchObject({ identical: false, divergence: { invocation: 0 } });
    expect(other.stderr).toMatch(
      /^AOS_E_REPLAY_DIVERGED: .* diverged at invocation 0, hostcall 0: extra-hostcall\n {2}recorded: no hostcall .*\n {2}replayed: log\.write\(/,
    );
    const usage = await agentos(['replay', id, '--to', 'x'], env);
    expect(usage).toMatchObject({ code: 2 });
    // A fork continues from the count the agent keeps in working memory.
    const forked = JSON.parse((await agentos(['fork', id, '--name', 'twin'], env)).stdout) as { id: string };
    expect(forked.id).toMatch(/^twin-/);
    expect(JSON.parse((await agentos(['send', forked.id, '--message', '{"by":4}'], env)).stdout)).toEqual({
      count: 10,
    });
  }, 180_000);
});
