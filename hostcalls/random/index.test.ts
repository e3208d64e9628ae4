import { describe, expect, it } from 'vitest';
import type { Kernel } from '../../kernel/kernel.js';
import { fixture, openKernel, tempHome } from '../../testing/harness.js';
import { mix64 } from './index.js';

const GRANTS = ['random'];
let kernel: Kernel | undefined;

type Out = { values: string[]; bytes: { ok?: number[]; err?: { tag: string; val: string } } };

describe('random', () => {
  it('is SplitMix64: the reference outputs for seed 0', () => {
    // The first outputs of SplitMix64 seeded with 0 (Vigna's reference implementation).
    const g = 0x9e3779b97f4a7c15n;
    expect(mix64(g).toString(16)).toBe('e220a8397b1dcdaf');
    expect(mix64(2n * g).toString(16)).toBe('6e789e6aa1b965f4');
  });

  it('gives the same sequence for the same seed, in another kernel, and another for another seed', async () => {
    const run = async (seed: number): Promise<Out> => {
      kernel = await openKernel();
      const id = await kernel.spawn(await fixture('probe'), {
        grants: ['log', 'clock', ...GRANTS, 'working-memory'],
        seed,
      });
      const out = (await kernel.send(id, { op: 'random', n: 4, bytes: 12 })) as Out;
      await kernel.close();
      kernel = undefined;
      return out;
    };
    const a = await run(7);
    const b = await run(7);
    const c = await run(8);
    expect(a).toEqual(b);
    expect(a.values).not.toEqual(c.values);
    expect(new Set(a.values).size).toBe(4);
    expect(a.bytes.ok).toHaveLength(12);
  });

  it('continues the sequence across instance restarts and kernel restarts (never repeats)', async () => {
    const home = tempHome();
    const grants = ['log', 'clock', 'random', 'working-memory'];
    kernel = await openKernel({ home });
    const id = await kernel.spawn(await fixture('probe'), { grants, seed: 1 });
    const first = (await kernel.send(id, { op: 'random', n: 2 })) as Out;
    await kernel.send(id, { op: 'trap' }).catch(() => {});
    const second = (await kernel.send(id, { op: 'random', n: 2 })) as Out;
    await kernel.close();
    kernel = await openKernel({ home });
    const third = (await kernel.send(id, { op: 'random', n: 2 })) as Out;
    const all = [...first.values, ...second.values, ...third.values];
    expect(new Set(all).size).toBe(6);
    // And it is the same stream a fresh agent with that seed draws in one go.
    const fresh = await kernel.spawn(await fixture('probe'), { grants, seed: 1 });
    expect(((await kernel.send(fresh, { op: 'random', n: 6 })) as Out).values).toEqual(all);
  });

  it('refuses more than 65536 bytes with invalid', async () => {
    kernel = await openKernel();
    const id = await kernel.spawn(await fixture('probe'), {
      grants: ['log', 'clock', 'random', 'working-memory'],
    });
    const out = (await kernel.send(id, { op: 'random', n: 0, bytes: 70000 })) as Out;
    expect(out.bytes.err).toEqual({ tag: 'invalid', val: 'random.bytes: 70000 bytes asked, at most 65536' });
  });
});
