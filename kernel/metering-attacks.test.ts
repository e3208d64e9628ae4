/**
 * Guests that try to escape fuel metering: by bringing their own fuel counter (refused at
 * load), by the kernel being handed an unmetered module anyway (refused by the loader and the
 * worker's meter), and by spending their time in bulk memory operations (charged by size).
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from '@bytecodealliance/jco';
import { describe, expect, it } from 'vitest';
import { fixture, openKernel, tempHome } from '../testing/harness.js';
import { wat } from '../testing/metered.js';
import type { AgentOSError } from './base/errors.js';
import { packageRoot } from './base/paths.js';
import { DEFAULT_TICK } from './exec/budgets.js';
import { FUEL } from './fuel/names.js';
import { instrumentFuel } from './fuel/pass.js';
import type { Kernel } from './kernel.js';
import { Loader, sha256 } from './loader/loader.js';
import { Meter, NotMetered } from './worker/meter.js';

/** One delivery per message: these tests are about what ends a call, not about retries. */
const ONCE = { delivery: { attempts: 1 } };

/** What a data dir holds of component bytes. */
const storedComponents = (home: string): string[] =>
  existsSync(join(home, 'components')) ? readdirSync(join(home, 'components')) : [];

/** The error `p` rejects with. */
const rejection = (p: Promise<unknown>): Promise<AgentOSError> =>
  p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e as AgentOSError,
  );

describe('a module that would wait without using fuel', () => {
  // A shared memory needs a second memory (the component model's own may not be shared), which
  // jco 1.35 refuses to transpile; were it accepted, the fuel pass refuses the wait itself
  // (kernel/fuel/pass.test.ts).
  it('is refused at spawn (a second, shared memory); nothing is stored', async () => {
    const home = tempHome();
    const kernel = await openKernel({ ...ONCE, home });
    const err = await rejection(
      kernel.spawn(await fixture('atomic-wait')).then((id) => kernel.send(id, 'x')),
    );
    expect(err).toMatchObject({ code: 'AOS_E_MALFORMED_COMPONENT' });
    expect(err.message).toContain('multiple memories');
    expect(storedComponents(home)).toEqual([]);
    expect(kernel.list()).toEqual([]);
  }, 30_000);
});

describe('a module that brings its own fuel counter', () => {
  // Before the fix this spawn succeeded and the message spun forever, unmetered: the bound
  // makes the test fail instead of hanging.
  it('is refused at spawn with AOS_E_RESERVED_NAME; nothing is stored; the kernel carries on', async () => {
    const home = tempHome();
    const cacheDir = tempHome('agentos-cache-');
    const kernel = await openKernel({ ...ONCE, home, cacheDir });
    const path = await fixture('forged-fuel');
    const limits = { fuel: { invocation: 1_000_000 }, deadlineMs: 1000 };
    const err = await rejection(kernel.spawn(path, { limits }).then((id) => kernel.send(id, 'spin')));
    expect(err).toMatchObject({
      code: 'AOS_E_RESERVED_NAME',
      details: { name: FUEL.fuelGlobal, kind: 'export' },
    });
    expect(err.message).toContain(`component.core.wasm exports "${FUEL.fuelGlobal}"`);
    expect(storedComponents(home)).toEqual([]);
    expect(kernel.list()).toEqual([]);
    // Nor anything transpiled: only its inspected WIT and its code digest are cached.
    expect(readdirSync(cacheDir).sort()).toEqual(['code', 'inspect']);
    // A second try is refused the same way, and other components still load and answer.
    expect((await rejection(kernel.spawn(path))).code).toBe('AOS_E_RESERVED_NAME');
    const echo = await kernel.spawn(await fixture('echo-wat'));
    expect(await kernel.send(echo, 'still here')).toBe('still here');
    expect(storedComponents(home)).toHaveLength(1);
  }, 30_000);
});

describe('an unmetered module that reaches the kernel anyway', () => {
  it('is refused by the worker meter, which never adopts a counter it did not get from the pass', async () => {
    const meter = new Meter(1 << 30);
    const forged = await parse('(module (global (export "__agentos_fuel") (mut i64) (i64.const 0)))');
    const importOnly = await parse('(module (import "agentos:meter" "out_of_fuel" (func)))');
    const plain = await parse('(module (func (export "f") (loop $l (br $l))))');
    const lacks = (bytes: Uint8Array): string => {
      try {
        meter.instantiateCore(new WebAssembly.Module(bytes));
      } catch (e) {
        expect(e).toBeInstanceOf(NotMetered);
        return (e as NotMetered).lacks;
      }
      throw new Error('instantiated an unmetered module');
    };
    expect(lacks(forged)).toBe('the agentos:meter/out_of_fuel import');
    expect(lacks(plain)).toBe('the agentos:meter/out_of_fuel import');
    expect(lacks(importOnly)).toBe('the __agentos_fuel export');
    // The pass's output is adopted, and its loop ends at the budget.
    const metered = meter.instantiateCore(new WebAssembly.Module(instrumentFuel(plain, 'plain').bytes));
    meter.begin({ fuel: 10_000, kind: 'invocation', tick: 1000, deadline: null });
    // It traps itself (unreachable) on the meter's word, the meter holding why.
    expect(() => (metered.exports.f as () => void)()).toThrow(WebAssembly.RuntimeError);
    expect(meter.ending?.message).toMatch('fuel exhausted');
  });

  it('is refused by the loader when a cache entry was altered, naming the file', async () => {
    const home = tempHome();
    const cacheDir = tempHome('agentos-cache-');
    const bytes = readFileSync(await fixture('echo-wat'));
    const dir = await new Loader(tempHome(), cacheDir).transpiled(sha256(bytes), bytes);
    const core = join(dir, 'component.core.wasm');
    writeFileSync(core, await parse('(module (memory (export "memory") 1))'));
    const kernel = await openKernel({ home, cacheDir });
    const err = await rejection(kernel.spawn(bytes));
    expect(err).toMatchObject({ code: 'AOS_E_INTERNAL', details: { path: core } });
    expect(err.message).toContain('is not metered (it lacks the agentos:meter/out_of_fuel import)');
    expect(storedComponents(home)).toEqual([]);
  });
});

describe('bulk memory operations are charged by their size', () => {
  let kernel: Kernel;

  it('charges ten 64 KiB fills at least 640 KiB of fuel', async () => {
    kernel = await openKernel(ONCE);
    const id = await kernel.spawn(await fixture('bulk-fill'));
    expect(await kernel.send(id, 3)).toBe(3);
    const [fuel] = (await kernel.journal(id)).flatMap((e) => (e.t === 'outcome' ? [e.fuel] : []));
    expect(fuel).toBeGreaterThanOrEqual(10 * 65536);
    expect(fuel).toBeLessThan(10 * 65536 + 100_000);
  });

  // Charged a few units per 64 MiB fill, the loop would run ~80,000 fills (minutes) before
  // spending 1e6 fuel: the bound makes the test fail instead of hanging.
  it('ends a loop of 64 MiB fills, and of 32 MiB copies, at the first one past the budget', async () => {
    kernel = await openKernel(ONCE);
    const id = await kernel.spawn(await fixture('bulk-fill'), {
      limits: { fuel: { invocation: 1_000_000 } },
    });
    for (const [op, size] of [
      [1, 64 << 20],
      [2, 32 << 20],
    ] as const) {
      const err = await rejection(kernel.send(id, op));
      expect(err).toMatchObject({
        code: 'AOS_E_FUEL_EXHAUSTED',
        details: { budget: 1_000_000, budgetKind: 'invocation' },
      });
      // Stopped at its first bulk op: that op's whole size is in `used`, and no second one.
      const used = (err.details as { used: number }).used;
      expect(used, `op ${op}`).toBeGreaterThanOrEqual(size);
      expect(used, `op ${op}`).toBeLessThan(size + 1_000_000);
    }
    expect(kernel.inspect(id).stats.fuel).toBeGreaterThan((64 << 20) + (32 << 20));
    expect(await kernel.send(id, 'fine')).toBe('fine');
  }, 30_000);
});

describe('a core module whose start function never returns', () => {
  // The engine would run a start section before the meter knows the module's counter: no grant,
  // no check, a spawn that never ends. The pass exports it instead, and the meter runs it.
  it('is ended at its fuel budget while the component is instantiated; the kernel carries on', async () => {
    const kernel = await openKernel({ ...ONCE, workers: 1 });
    const err = await rejection(
      kernel.spawn(await fixture('start-loop'), { limits: { fuel: { invocation: 10_000_000 } } }),
    );
    expect(err).toMatchObject({
      code: 'AOS_E_FUEL_EXHAUSTED',
      details: { budget: 10_000_000, budgetKind: 'invocation' },
    });
    const used = (err.details as { used: number }).used;
    expect(used).toBeGreaterThanOrEqual(10_000_000);
    expect(used).toBeLessThan(10_000_000 + DEFAULT_TICK);
    // The one worker is free again.
    const echo = await kernel.spawn(await fixture('echo-wat'));
    expect(await kernel.send(echo, 'after')).toBe('after');
  }, 60_000);

  it('is ended at its deadline too', async () => {
    const kernel = await openKernel({ ...ONCE, workers: 1 });
    const err = await rejection(
      kernel.spawn(await fixture('start-loop'), { limits: { deadlineMs: 200, fuel: { invocation: 1e13 } } }),
    );
    expect(err).toMatchObject({ code: 'AOS_E_DEADLINE' });
  }, 60_000);
});

describe('a module that catches whatever ends its invocation', () => {
  // Ending an invocation is a trap the module runs itself (unreachable), which no catch_all can
  // catch; were it a throw into the module, these would loop or grow on, their budget spent.
  const source = async () =>
    wat(
      readFileSync(join(packageRoot(), 'testing', 'fixtures', 'catch-all.wat'), 'utf8').replace(
        ';;COMMON',
        readFileSync(join(packageRoot(), 'testing', 'fixtures', 'common.wat.inc'), 'utf8'),
      ),
    );
  const body = (m: WebAssembly.Memory, op: number): number[] => {
    new Uint8Array(m.buffer)[8192] = op;
    return [0, 0, 0, 0, 0, 0, 8192, 1, 0];
  };

  it('is ended by the meter at its fuel budget, its deadline and its memory limit all the same', async () => {
    const module = new WebAssembly.Module(instrumentFuel(await source(), 'catch-all').bytes);
    const run = (limits: { fuel: number; deadline: number | null; memory: number }, op: number) => {
      const meter = new Meter(limits.memory);
      const exports = meter.instantiateCore(module).exports as Record<string, CallableFunction>;
      meter.begin({ fuel: limits.fuel, kind: 'invocation', tick: 100_000, deadline: limits.deadline });
      const args = body(exports.memory as unknown as WebAssembly.Memory, op).map((v, i) =>
        i === 0 || i === 8 ? BigInt(v) : v,
      );
      let trapped: unknown = null;
      try {
        exports.handle!(...args);
      } catch (e) {
        trapped = e;
      }
      return { trapped, ending: meter.ending, used: meter.end() };
    };
    const spent = run({ fuel: 2_000_000, deadline: null, memory: 8 << 20 }, 0x31);
    expect(spent.trapped).toBeInstanceOf(WebAssembly.RuntimeError);
    expect(spent.ending).toMatchObject({ budget: 2_000_000 });
    expect(spent.used).toBeLessThan(2_000_000 + 1_000);
    const late = run({ fuel: 1e15, deadline: performance.now() + 50, memory: 8 << 20 }, 0x31);
    expect(late.ending?.message).toMatch(/deadline passed/);
    const grown = run({ fuel: 1e9, deadline: null, memory: 8 << 20 }, 0x32);
    expect(grown.trapped).toBeInstanceOf(WebAssembly.RuntimeError);
    expect(grown.ending).toMatchObject({ limit: 8 << 20 });
  });

  it('is refused at spawn on Node 20 (jco reads no legacy try); nothing is stored', async () => {
    const home = tempHome();
    const kernel = await openKernel({ ...ONCE, home });
    try {
      expect(await rejection(kernel.spawn(await fixture('catch-all')))).toMatchObject({
        code: 'AOS_E_MALFORMED_COMPONENT',
      });
      expect(kernel.list()).toEqual([]);
      expect(storedComponents(home)).toEqual([]);
    } finally {
      await kernel.close();
    }
  });
});
