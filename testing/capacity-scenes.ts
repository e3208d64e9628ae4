/**
 * Scenes at a small capacity for kernel/capacity.test.ts, each in a process of its own (run with
 * AGENTOS_WASM_MEMORIES set). Usage:
 *   node capacity-scenes.js <scene> <home> <echo.wat agent> <probe agent>
 * and prints one JSON line:
 *   reopen       a kernel fills the room, closes; a second kernel in the process fills it again
 *   worker-loss  a probe agent crashes past its deadline, three attempts: the room comes back
 *   dormant      a dormant agent woken while the room is full: its message waits, uncounted,
 *                and is answered once room comes back
 *   replay       a replay with no room is refused with AOS_E_CAPACITY (not a divergence)
 */
import { argv, stdout } from 'node:process';
import { AgentOSError, Kernel } from '../index.js';
import { memoriesAlive, memoryCounter } from '../kernel/base/address-space.js';
import { childKernelOptions, PROBE_GRANTS, until } from './harness.js';

const [scene, home, echo, probe] = argv.slice(2);
const alive = (): number => memoriesAlive(new Int32Array(memoryCounter()));
const code = (e: unknown): string => (e instanceof AgentOSError ? e.code : String(e));

/** Spawns echo agents until one is refused: their ids. */
async function fill(k: Kernel): Promise<string[]> {
  const ids: string[] = [];
  for (;;) {
    try {
      ids.push(await k.spawn(echo!));
    } catch (e) {
      if (code(e) !== 'AOS_E_CAPACITY') throw e;
      return ids;
    }
  }
}

async function run(): Promise<Record<string, unknown>> {
  if (scene === 'reopen') {
    const a = await Kernel.open(childKernelOptions(`${home}/a`));
    const first = (await fill(a)).length;
    await a.close();
    const afterClose = alive();
    const b = await Kernel.open(childKernelOptions(`${home}/b`));
    const second = (await fill(b)).length;
    await b.close();
    return { first, afterClose, second };
  }
  const k = await Kernel.open({
    ...childKernelOptions(home!),
    dormantAfterMs: scene === 'dormant' ? 300 : null,
  });
  try {
    if (scene === 'worker-loss') {
      const ids = [await k.spawn(echo!), await k.spawn(echo!)];
      const looper = await k.spawn(probe!, { grants: PROBE_GRANTS, limits: { deadlineMs: 300 } });
      const before = alive();
      const killed = await k.send(looper, { op: 'spin', n: 1e12 }).catch(code);
      await k.terminate(looper);
      // The killed worker's cell went with it; a new worker takes its place.
      await until('the crashed instances off the count', () => alive() <= before - 1, 30_000);
      return { before, killed, after: alive(), answered: await k.send(ids[0]!, { text: 'ok' }) };
    }
    if (scene === 'dormant') {
      const sleeper = await k.spawn(echo!);
      await k.send(sleeper, { text: 'before' });
      await until('the agent dormant', () => k.inspect(sleeper).dormant === true, 30_000);
      // Another kernel of the process takes all the room.
      const other = await Kernel.open(childKernelOptions(`${home}-other`));
      try {
        // Twice: a refusal collects its worker's garbage first, which may leave room again.
        const fillers = [...(await fill(other)), ...(await fill(other))];
        let settled: unknown = null;
        const answer = k.send(sleeper, { text: 'after' }).then(
          (v) => (settled = v),
          (e: unknown) => (settled = code(e)),
        );
        await new Promise((r) => setTimeout(r, 2500)); // two retries at least
        const waiting = {
          settled,
          state: k.inspect(sleeper).state,
          deadLetters: (await k.deadLetters()).length,
        };
        await other.terminate(fillers[0]!);
        await answer;
        return { waiting, answer: settled, deadLettersAfter: (await k.deadLetters()).length };
      } finally {
        await other.close();
      }
    }
    if (scene === 'replay') {
      const id = await k.spawn(echo!);
      await k.send(id, { text: 'recorded' });
      await fill(k);
      const replayed = await k.replay(id).then(
        (r) => ({ identical: r.identical }),
        (e: unknown) => code(e),
      );
      return { replayed };
    }
    throw new Error(`no scene ${scene}`);
  } finally {
    await k.close();
  }
}

stdout.write(`${JSON.stringify(await run())}\n`);
