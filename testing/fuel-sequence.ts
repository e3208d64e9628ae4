/**
 * A fixed sequence of calls whose fuel must be the same in every run, instance and process
 * (kernel/limits.test.ts runs it in the test process and, through `fuel-sequence-child.ts`, in
 * a child process).
 */
import type { Kernel } from '../kernel/kernel.js';
import { fixture, PROBE_GRANTS } from './harness.js';

/** The fuel of each call, in order: four probe messages, then the compiled compute twice. */
export async function fuelSequence(k: Kernel): Promise<number[]> {
  const id = await k.spawn(await fixture('probe'), { grants: PROBE_GRANTS, seed: 7 });
  const wat = await k.spawn(await fixture('limits-wat'));
  for (const m of [{ op: 'echo' }, { op: 'spin', n: 1000 }, { op: 'random', n: 3 }, { op: 'echo' }])
    await k.send(id, m);
  await k.send(wat, 4);
  await k.send(wat, 4);
  const fuel = async (a: string): Promise<number[]> =>
    (await k.journal(a)).flatMap((e) => (e.t === 'outcome' ? [e.fuel] : []));
  return [...(await fuel(id)), ...(await fuel(wat))];
}
