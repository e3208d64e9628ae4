import { describe, expect, it } from 'vitest';
import { wat } from '../../testing/metered.js';
import { addressSpace, claimCell, memoriesAlive, memoryCounter, releaseCell } from '../base/address-space.js';
import { Status } from '../bridge/channel.js';
import { instrumentFuel } from '../fuel/pass.js';
import type { Glue, Imports, Link } from './imports.js';
import { admitSpare, configureGate, SPARE_CAPACITY } from './memory-gate.js';
import { type Budget, Meter } from './meter.js';
import type { LoadTask } from './protocol.js';
import { type Made, type Spare, Spares, spareKey, spareMaker } from './spares.js';

/** Burns `n` rounds of a loop (fuel grows with n). */
const BURN = `(func $burn (param $n i32)
  (loop $l (local.set $n (i32.sub (local.get $n) (i32.const 1))) (br_if $l (i32.gt_s (local.get $n) (i32.const 0)))))`;

/** Two metered cores, both spending fuel in their start functions and in init. */
const modules = {
  side: new WebAssembly.Module(
    instrumentFuel(
      wat(`(module ${BURN} (func $start (call $burn (i32.const 700))) (start $start)
        (func (export "spin") (param i32) (call $burn (local.get 0))))`),
      'side',
    ).bytes,
  ),
  main: new WebAssembly.Module(
    instrumentFuel(
      wat(`(module (import "b" "spin" (func $spin (param i32))) (memory (export "memory") 1) ${BURN}
        (func $start (call $burn (i32.const 900)) (call $spin (i32.const 400))) (start $start)
        (func (export "init") (param $n i32) (call $burn (local.get $n)) (call $spin (local.get $n))))`),
      'main',
    ).bytes,
  ),
};

/** A glue as jco's is called: cores instantiated through the meter's hook; `log` called when asked. */
const glue = (logAtStart = false): Glue => ({
  instantiate(get, imports: Imports, instantiateCore) {
    const side = instantiateCore(get('side'));
    const main = instantiateCore(get('main'), { b: { spin: side.exports.spin! } });
    if (logAtStart) imports['agentos:kernel/log']!.write!('hello');
    return {
      init: (config: unknown) => (main.exports.init as (n: number) => void)(Number(config)),
      log: () => imports['agentos:kernel/log']!.write!('later'),
    };
  },
});

const calls: unknown[][] = [];
const link = (): Link => ({
  client: {
    call: (fn: number, args: unknown[]) => {
      calls.push([fn, ...args]);
      return { status: Status.Ok, value: undefined };
    },
  } as unknown as Link['client'],
  posts: { post: () => false } as unknown as Link['posts'],
  current: () => 0,
});

const task = (fuel: number, tick: number, imports: LoadTask['imports'] = {}): LoadTask => ({
  op: 'load',
  agent: 'a',
  generation: 1,
  budget: { fuel, kind: 'invocation', tick, slice: 1e9, deadlineMs: null },
  world: 'agent',
  digest: `d-${fuel}-${tick}`,
  glueUrl: 'file:///none',
  imports,
  workerModules: {},
  config: '',
  memoryBytes: 1 << 24,
});

/** No command ever waits. */
const never = (): boolean => false;

const budget = (t: LoadTask): Budget => ({ ...t.budget, deadline: null });

/** What a start's init left: the fuel used, and why it ended (null: it returned). */
function finish(meter: Meter, f: () => unknown): { used: number; ending: string | null } {
  let ending: string | null = null;
  try {
    f();
  } catch (e) {
    ending = (meter.ending ?? (e as Error)).message;
  }
  return { used: meter.end(), ending };
}

function fresh(t: LoadTask, n: number) {
  const meter = new Meter(t.memoryBytes);
  meter.begin(budget(t));
  return finish(meter, () =>
    glue().instantiate((m) => modules[m as 'side']!, {}, meter.instantiateCore).init!(n),
  );
}

function fromSpare(t: LoadTask, n: number) {
  const made = spareMaker(t, glue(), modules, new Map(), link)(never);
  if (made === 'failed') return made;
  if (typeof made === 'string') throw new Error(`no spare: ${made}`);
  made.meter.resume(budget(t));
  made.claim();
  return finish(made.meter, () => made.exports.init!(n));
}

describe('a spare instance', () => {
  const cell = claimCell();
  configureGate(memoryCounter(), cell, { ...addressSpace(), capacity: 100_000 });

  it('starts exactly as a fresh instance: the same fuel, and a tight budget ends at the same point', () => {
    const seen = new Set<string>();
    for (const [fuel, tick] of [
      [3_000, 1_000],
      [9_000, 1_000],
      [20_000, 1_500],
      [60_000, 5_000],
      [1_000_000, 1_000_000],
    ] as const) {
      for (const n of [10, 2_000, 50_000]) {
        const t = task(fuel, tick);
        const a = fresh(t, n);
        const b = fromSpare(t, n);
        const what = `budget ${fuel}, tick ${tick}, init ${n}`;
        if (b === 'failed') {
          // Instantiation itself ran out: no spare, and a fresh start says so.
          expect(a.ending, what).toMatch(/^fuel exhausted/);
          expect(a.used, what).toBeLessThan(fuel + tick);
          seen.add('no spare');
          continue;
        }
        expect(b, what).toEqual(a);
        seen.add(a.ending === null ? 'returned' : a.ending.split(':')[0]!);
      }
    }
    // Every outcome was met: inits that returned, inits the budget ended, and instantiations it ended.
    expect([...seen].sort()).toEqual(['fuel exhausted', 'no spare', 'returned']);
  });

  it('ends when its instantiation calls the kernel, and calls it once claimed', () => {
    const t = task(1_000_000, 10_000, { 'agentos:kernel/log': { write: 7 } });
    const before = memoriesAlive(new Int32Array(memoryCounter()));
    expect(spareMaker(t, glue(true), modules, new Map(), link)(never)).toBe('failed');
    expect(memoriesAlive(new Int32Array(memoryCounter()))).toBe(before);
    expect(calls).toEqual([]);
    const made = spareMaker(t, glue(), modules, new Map(), link)(never) as Spare;
    expect(() => made.exports.log!()).toThrow('a spare instance called the kernel while it was instantiated');
    made.claim();
    made.exports.log!();
    expect(calls).toEqual([[7, 'later']]);
  });

  it('gives way to a command that comes while it is instantiated, keeping nothing', () => {
    const t = task(1_000_000_000, 1_000);
    const before = memoriesAlive(new Int32Array(memoryCounter()));
    let asked = 0;
    // The first grants go by; then a command waits.
    const made = spareMaker(t, glue(), modules, new Map(), link)(() => ++asked > 2);
    expect(made).toBe('interrupted');
    expect(asked).toBe(3);
    expect(memoriesAlive(new Int32Array(memoryCounter()))).toBe(before);
    // Uninterrupted, the same key gives a spare that starts as a fresh instance does.
    expect(fromSpare(t, 50_000)).toEqual(fresh(t, 50_000));
  });

  it('refuses a resumed budget other than the one it began with', () => {
    const t = task(50_000, 1_000);
    const made = spareMaker(t, glue(), modules, new Map(), link)(never) as Spare;
    expect(() => made.meter.resume({ ...budget(t), fuel: 50_001 })).toThrow('the budget it began with');
    expect(() => made.meter.resume({ ...budget(t), tick: 999 })).toThrow('the budget it began with');
  });

  it('is keyed by everything a fresh start depends on but the config', () => {
    const t = task(50_000, 1_000);
    expect(spareKey({ ...t, config: 'other', agent: 'b', generation: 9 })).toBe(spareKey(t));
    for (const other of [
      { ...t, digest: 'x' },
      { ...t, memoryBytes: 1 << 20 },
      { ...t, budget: { ...t.budget, tick: 2_000 } },
      { ...t, imports: { 'agentos:kernel/log': { write: 1 } } },
      { ...t, workerModules: { x: 'file:///x' } },
      { ...t, world: 'skill' as const },
    ])
      expect(spareKey(other)).not.toBe(spareKey(t));
  });

  it('is made only while the process has room for many instances', () => {
    configureGate(memoryCounter(), cell, { ...addressSpace(), capacity: SPARE_CAPACITY - 1 });
    expect(admitSpare(1)).toBe(false);
    const alive = memoriesAlive(new Int32Array(memoryCounter()));
    configureGate(memoryCounter(), cell, { ...addressSpace(), capacity: 4 * (alive + 2) + SPARE_CAPACITY });
    expect(admitSpare(1)).toBe(true);
    expect(memoriesAlive(new Int32Array(memoryCounter()))).toBe(alive + 1);
    configureGate(memoryCounter(), cell, { ...addressSpace(), capacity: SPARE_CAPACITY });
    expect(admitSpare(SPARE_CAPACITY / 4)).toBe(false);
    configureGate(memoryCounter(), cell, { ...addressSpace(), capacity: 100_000 });
    releaseCell(cell);
  });
});

describe('Spares', () => {
  const fake = (name: string): Spare => ({
    exports: { name: () => name },
    meter: {} as Meter,
    locals: [],
    claim() {},
  });

  it('keeps `each` spares per component, for the last four started, and drops the rest', () => {
    const dropped: string[] = [];
    const spares = new Spares(2, (s) => dropped.push(s.exports.name!() as string));
    let made = 0;
    const maker = (key: string) => (): Made => fake(`${key}${made++}`);
    for (const key of ['a', 'b', 'c', 'd']) spares.want(key, maker(key));
    while (spares.idle()) {}
    expect(spares.size).toBe(8);
    spares.want('e', maker('e')); // 'a' is the oldest: its spares go
    expect(dropped.sort()).toEqual(['a6', 'a7']); // made newest first: d, c, b, then a
    expect(spares.take('a')).toBeUndefined();
    expect(spares.idle()).toBe(true); // the newest first
    expect(spares.take('e')?.exports.name?.()).toBe('e8');
    expect(spares.take('e')).toBeUndefined();
    expect(spares.clear()).toBe(6);
    expect(spares.size).toBe(0);
  });

  it('drops its spares once the process is past a quarter of its capacity', () => {
    const cell = claimCell();
    const cells = new Int32Array(memoryCounter());
    const alive = memoriesAlive(cells);
    configureGate(memoryCounter(), cell, { ...addressSpace(), capacity: 4 * (alive + 10) });
    const dropped: string[] = [];
    const spares = new Spares(1, (s) => dropped.push(s.exports.name!() as string));
    spares.want('a', () => fake('a'));
    expect(spares.idle()).toBe(true);
    Atomics.add(cells, cell, 11); // instances elsewhere in the process
    expect(spares.idle()).toBe(false);
    expect(dropped).toEqual(['a']);
    expect(spares.size).toBe(0);
    releaseCell(cell);
    configureGate(memoryCounter(), claimCell(), { ...addressSpace(), capacity: 100_000 });
  });

  it('forgets an interrupted component until it starts again', () => {
    const spares = new Spares(1, () => {});
    let tries = 0;
    spares.want('slow', () => (++tries === 1 ? 'interrupted' : fake('s')));
    expect(spares.idle()).toBe(false);
    expect(spares.idle()).toBe(false);
    expect(tries).toBe(1);
    spares.want('slow', () => (++tries === 1 ? 'interrupted' : fake('s')));
    expect(spares.idle()).toBe(true);
    expect(spares.take('slow')?.exports.name?.()).toBe('s');
  });

  it('does not try a failed component again, and stops at no room', () => {
    const spares = new Spares(1, () => {});
    let tries = 0;
    spares.want('bad', () => {
      tries++;
      return 'failed';
    });
    expect(spares.idle()).toBe(true);
    expect(spares.idle()).toBe(false);
    spares.want('bad', () => fake('x'));
    expect(spares.idle()).toBe(false);
    expect(tries).toBe(1);
    spares.want('full', () => 'no room');
    expect(spares.idle()).toBe(false);
    expect(new Spares(0, () => {}).idle()).toBe(false);
  });
});
