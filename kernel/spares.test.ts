import { describe, expect, it } from 'vitest';
import { fixture, openKernel, PROBE_GRANTS } from '../testing/harness.js';
import type { AgentOSError } from './base/errors.js';
import { workerPoolOf } from './kernel.js';

/** One worker, so each start after the first finds that worker's spare (made between commands). */
const open = (spares: number) =>
  openKernel({ workers: 1, spares, tickFuel: 1000, delivery: { attempts: 1 } });

/** A fresh start's outcome: the fuel init used, or the error that ended it. */
async function starts(spares: number) {
  const kernel = await open(spares);
  const probe = await fixture('probe');
  const outcomes: unknown[] = [];
  // The same budget each time (a spare is made under the budget of the start that asked for it);
  // the config decides how much init computes: from well inside it to far past it.
  for (const spin of [0, 10, 100_000, 0, 1_000, 100_000]) {
    try {
      const id = await kernel.spawn(probe, {
        grants: PROBE_GRANTS,
        config: { spinInit: spin },
        limits: { fuel: { invocation: 2_000_000 } },
      });
      outcomes.push({ fuel: kernel.inspect(id).stats.fuel, answer: await kernel.send(id, { op: 'state' }) });
    } catch (e) {
      const err = e as AgentOSError;
      outcomes.push({ code: err.code, details: err.details });
    }
  }
  return { outcomes, fromSpares: workerPoolOf(kernel).spareStarts, kernel };
}

describe('spare instances', () => {
  it('start exactly as fresh ones: the same fuel, and a tight init budget ends at the same point', async () => {
    const fresh = await starts(0);
    const spared = await starts(1);
    expect(fresh.fromSpares).toBe(0);
    expect(spared.fromSpares).toBeGreaterThan(0);
    expect(spared.outcomes).toEqual(fresh.outcomes);
    // Both kinds of outcome were compared.
    const codes = fresh.outcomes.map((o) => (o as { code?: string }).code ?? 'ok');
    expect(new Set(codes)).toEqual(new Set(['ok', 'AOS_E_FUEL_EXHAUSTED']));
  }, 120_000);

  it('start a fork from its state, and the run replays identically', async () => {
    const kernel = await open(1);
    const probe = await fixture('probe');
    const a = await kernel.spawn(probe, { grants: PROBE_GRANTS });
    for (let i = 0; i < 3; i++) await kernel.send(a, { op: 'state' });
    const before = workerPoolOf(kernel).spareStarts;
    const b = await kernel.fork(a);
    expect(workerPoolOf(kernel).spareStarts).toBe(before + 1);
    expect(await kernel.send(b, { op: 'state' })).toEqual(await kernel.send(a, { op: 'state' }));
    const c = await kernel.spawn(probe, { grants: PROBE_GRANTS });
    expect(workerPoolOf(kernel).spareStarts).toBe(before + 2);
    expect(await kernel.send(c, { op: 'state' })).toEqual({ handled: 1 });
    for (const id of [a, b, c]) expect(await kernel.replay(id)).toMatchObject({ identical: true });
  }, 120_000);
});
