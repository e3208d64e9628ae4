import { setFlagsFromString } from 'node:v8';
import { parse } from '@bytecodealliance/jco';
import { describe, expect, it } from 'vitest';
import { codeOf } from '../../testing/expect-error.js';
import { exportNames, instantiate, thrown, used, wat } from '../../testing/metered.js';
import type { AgentOSError } from '../base/errors.js';
import { FUEL, instrumentFuel } from './pass.js';
import { FuelThread, instrumentInThread } from './thread.js';

const SMALL = wat(`(module
  (memory (export "memory") 1)
  (global $g (mut i32) (i32.const 7))
  (global $k i32 (i32.const 1))
  (table 1 funcref)
  (func $fib (export "fib") (param $n i32) (result i32)
    (if (result i32) (i32.lt_u (local.get $n) (i32.const 2))
      (then (local.get $n))
      (else (i32.add (call $fib (i32.sub (local.get $n) (i32.const 1)))
                     (call $fib (i32.sub (local.get $n) (i32.const 2)))))))
  (func (export "sum") (param $n i32) (result i64)
    (local $i i32) (local $acc i64)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $acc (i64.add (local.get $acc) (i64.extend_i32_u (local.get $i))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
    (local.get $acc))
  (func (export "spin") (loop $l (global.set $g (i32.add (global.get $g) (i32.const 1))) (br $l)))
  (func (export "grow") (param $pages i32) (result i32) (memory.grow (local.get $pages)))
  (func (export "straight") (result i32) (i32.add (i32.const 1) (i32.const 2)))
)`);

describe('fuel pass', () => {
  it('meters, validates, and leaves the results alone', () => {
    const { bytes, stats } = instrumentFuel(SMALL, 'small');
    expect(WebAssembly.validate(bytes)).toBe(true);
    expect(stats).toMatchObject({ functions: 5, loops: 2, memoryGrows: 1, bulkOps: 0 });
    const m = instantiate(bytes);
    m.fuel.value = 1n << 40n;
    expect(m.exports.fib!(20)).toBe(6765);
    expect(m.exports.sum!(1000)).toBe(499500n);
  });

  it('charges each basic block its node count: exact, and the same on every run and instance', () => {
    const { bytes } = instrumentFuel(SMALL, 'small');
    const a = instantiate(bytes);
    // straight: i32.add and its two consts, one basic block.
    expect(used(a, () => a.exports.straight!())).toBe(3n);
    const fib = used(a, () => a.exports.fib!(15));
    expect(used(a, () => a.exports.fib!(15))).toBe(fib);
    const b = instantiate(bytes);
    expect(used(b, () => b.exports.fib!(15))).toBe(fib);
    // The loop costs the same per iteration: fuel is affine in n.
    const s10 = used(b, () => b.exports.sum!(10));
    const s20 = used(b, () => b.exports.sum!(20));
    const s30 = used(b, () => b.exports.sum!(30));
    expect(s30 - s20).toBe(s20 - s10);
    expect(s20 - s10).toBeGreaterThan(10n * 10n);
  });

  it('is deterministic, and refuses its own output', () => {
    const once = instrumentFuel(SMALL, 'small');
    expect(Buffer.from(instrumentFuel(SMALL, 'small').bytes).equals(Buffer.from(once.bytes))).toBe(true);
    const err = thrown(() => instrumentFuel(once.bytes, 'small'));
    expect(err).toMatchObject({ code: 'AOS_E_RESERVED_NAME', details: { kind: 'export' } });
    expect(exportNames(once.bytes)).toContain((err as AgentOSError).details.name);
  });

  it('stops an infinite loop: out_of_fuel is called once the grant is spent', () => {
    const m = instantiate(instrumentFuel(SMALL, 'small').bytes, 10_000n, 3);
    m.fuel.value = 10_000n;
    expect(() => m.exports.spin!()).toThrow('out of fuel');
    expect(m.calls.outOfFuel).toBe(4);
    expect(m.fuel.value as bigint).toBeLessThan(0n);
  });

  it('asks before memory.grow passes the page limit, and not below it', () => {
    const m = instantiate(instrumentFuel(SMALL, 'small').bytes);
    m.fuel.value = 1n << 40n;
    m.limit.value = 4;
    expect(m.exports.grow!(2)).toBe(1); // 1 → 3 pages
    expect(() => m.exports.grow!(2)).toThrow('memory limit'); // 3 + 2 > 4
    expect(m.calls.memoryLimit).toEqual([2]);
    expect(() => m.exports.grow!(-1)).toThrow('memory limit'); // 0xffffffff pages, no wrap-around
  });

  it('exports every mutable global, defined memory and table under __snap_*', () => {
    const { bytes, stats } = instrumentFuel(SMALL, 'small');
    expect(stats.snapExports).toEqual(['__snap_global_0', '__snap_table_0', '__snap_memory_0']);
    const names = WebAssembly.Module.exports(new WebAssembly.Module(bytes)).map((e) => e.name);
    expect(names).toEqual(
      expect.arrayContaining([...stats.snapExports, FUEL.fuelGlobal, FUEL.memoryLimitGlobal]),
    );
    const m = instantiate(bytes);
    expect((m.exports as unknown as Record<string, WebAssembly.Global>).__snap_global_0!.value).toBe(7);
  });

  it('refuses bytes that are not a valid core module with a coded error', async () => {
    const junk = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 99]);
    expect(await codeOf(() => instrumentFuel(junk, 'junk'))).toBe(
      'AOS_E_FUEL_UNSUPPORTED: junk is not a valid core wasm module',
    );
  });

  it('runs on its own thread and reports progress', async () => {
    const phases: string[] = [];
    const r = await instrumentInThread(SMALL, 'small', (p) => phases.push(p));
    expect(Buffer.from(r.bytes).equals(Buffer.from(instrumentFuel(SMALL, 'small').bytes))).toBe(true);
    expect(phases).toEqual(['read', 'instrument', 'emit', 'validate']);
    await expect(instrumentInThread(new Uint8Array([1, 2, 3]), 'junk')).rejects.toMatchObject({
      code: 'AOS_E_FUEL_UNSUPPORTED',
    });
  });

  it('meters many modules on one thread, in order, and a failure costs only a fresh thread', async () => {
    const thread = new FuelThread();
    try {
      const want = Buffer.from(instrumentFuel(SMALL, 'small').bytes);
      const sent = [
        thread.meter(SMALL, 'a'),
        thread.meter(SMALL, 'b'),
        thread.meter(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 99]), 'junk'),
        thread.meter(SMALL, 'c'),
      ];
      const [a, b, junk, c] = await Promise.allSettled(sent);
      for (const r of [a, b, c]) {
        expect(r?.status).toBe('fulfilled');
        if (r?.status === 'fulfilled') expect(Buffer.from(r.value.bytes).equals(want)).toBe(true);
      }
      expect(junk).toMatchObject({ status: 'rejected', reason: { code: 'AOS_E_FUEL_UNSUPPORTED' } });
      expect(thread.started).toBe(2); // one thread for a, b and junk; c on a fresh one
      expect(Buffer.from((await thread.meter(SMALL, 'd')).bytes).equals(want)).toBe(true);
      expect(thread.started).toBe(2);
    } finally {
      await thread.close();
    }
  });
});

describe('reserved names: a module cannot bring its own meter', () => {
  // Parsed by wasm-tools, which writes the name section a compiler would.
  const cases: [string, string, string, string][] = [
    [
      'an exported fuel counter',
      '(global (export "__agentos_fuel") (mut i64) (i64.const 0))',
      'export',
      '__agentos_fuel',
    ],
    ['any export named __agentos_*', '(func (export "__agentos_x"))', 'export', '__agentos_x'],
    [
      'a start function of its own, exported as the pass would',
      '(func (export "__agentos_start"))',
      'export',
      '__agentos_start',
    ],
    ['an export named __snap_*', '(memory (export "__snap_memory_0") 1)', 'export', '__snap_memory_0'],
    [
      'a function import from agentos:meter',
      '(import "agentos:meter" "out_of_fuel" (func))',
      'import',
      'agentos:meter/out_of_fuel',
    ],
    [
      'a global import from agentos:meter',
      '(import "agentos:meter" "g" (global i32))',
      'import',
      'agentos:meter/g',
    ],
    [
      'a function the pass would add',
      '(func $__agentos_grow_check (param i32) (result i32) (local.get 0))',
      'function',
      '__agentos_grow_check',
    ],
    [
      'a global the pass would add',
      '(global $__agentos_fuel (mut i64) (i64.const 0))',
      'global',
      '__agentos_fuel',
    ],
  ];

  it.each(cases)(
    'refuses %s with AOS_E_RESERVED_NAME naming it and where it is',
    async (_, body, kind, name) => {
      const bytes = await parse(`(module ${body} (func (export "f") (loop $l (br $l))))`);
      const err = thrown(() => instrumentFuel(bytes, 'forged'));
      expect(err).toBeInstanceOf(Error);
      expect(err).toMatchObject({ code: 'AOS_E_RESERVED_NAME', details: { kind, name } });
      const where = {
        export: 'exports',
        import: 'imports',
        function: 'has a function named',
        global: 'has a global named',
      };
      expect((err as Error).message).toContain(`forged ${where[kind as keyof typeof where]} "${name}"`);
    },
  );

  it('keeps the code and details across the pass thread, and accepts names merely close to them', async () => {
    const forged = await parse('(module (global (export "__agentos_fuel") (mut i64) (i64.const 0)))');
    await expect(instrumentInThread(forged, 'forged')).rejects.toMatchObject({
      code: 'AOS_E_RESERVED_NAME',
      details: { kind: 'export', name: '__agentos_fuel' },
    });
    const close = await parse(
      '(module (import "agentos:kernel/log" "agentos:meter" (func)) (func $agentos_fuel (export "_agentos_fuel") (export "snap_x")))',
    );
    expect(instrumentFuel(close, 'close').stats.functions).toBe(1);
  });
});

describe('bulk operations are charged by their size, before they run', () => {
  const BULK = wat(`(module
    (memory (export "memory") 1)
    (data $d "0123456789abcdef0123456789abcdef")
    (table $t 1 funcref)
    (global $order (mut i32) (i32.const 0))
    (func $note (param $k i32) (param $v i32) (result i32)
      (global.set $order (i32.add (i32.mul (global.get $order) (i32.const 10)) (local.get $k)))
      (local.get $v))
    (func (export "fill") (param $n i32) (memory.fill (i32.const 0) (i32.const 7) (local.get $n)))
    (func (export "copy") (param $n i32) (memory.copy (i32.const 0) (i32.const 100) (local.get $n)))
    (func (export "init") (param $n i32) (memory.init $d (i32.const 0) (i32.const 0) (local.get $n)))
    (func (export "tgrow") (param $n i32) (result i32) (table.grow $t (table.get $t (i32.const 0)) (local.get $n)))
    (func (export "ordered") (param $n i32) (result i32)
      (global.set $order (i32.const 0))
      (memory.fill (call $note (i32.const 1) (i32.const 0)) (call $note (i32.const 2) (i32.const 9))
                   (call $note (i32.const 3) (local.get $n)))
      (global.get $order))
  )`);

  it('charges one unit per byte or element on top of the op, for each kind', () => {
    const { bytes, stats } = instrumentFuel(BULK, 'bulk');
    expect(stats.bulkOps).toBe(5);
    const m = instantiate(bytes);
    for (const op of ['fill', 'copy', 'init', 'tgrow']) {
      const f = m.exports[op]!;
      const none = used(m, () => f(0));
      expect(none, op).toBeLessThan(10n);
      expect(
        used(m, () => f(32)),
        op,
      ).toBe(none + 32n);
    }
    expect(used(m, () => m.exports.fill!(60_000))).toBe(used(m, () => m.exports.fill!(0)) + 60_000n);
    expect(used(m, () => m.exports.tgrow!(1000))).toBe(used(m, () => m.exports.tgrow!(0)) + 1000n);
  });

  it('checks the charge before the op runs, after every operand, in their order', () => {
    const m = instantiate(instrumentFuel(BULK, 'bulk').bytes);
    m.fuel.value = 1000n;
    expect(() => m.exports.fill!(4096)).toThrow('out of fuel');
    expect(m.calls.outOfFuel).toBe(1);
    const memory = (m.exports as unknown as { memory: WebAssembly.Memory }).memory;
    expect(new Uint8Array(memory.buffer, 0, 4096).every((b) => b === 0)).toBe(true);
    m.fuel.value = 1n << 40n;
    expect(m.exports.ordered!(16)).toBe(123);
    expect(new Uint8Array(memory.buffer, 0, 17)).toEqual(new Uint8Array([...Array(16).fill(9), 0]));
  });

  it('charges a memory64 size, and caps a huge one so the counter cannot wrap', () => {
    setFlagsFromString('--experimental-wasm-memory64');
    const m = instantiate(
      instrumentFuel(
        wat(`(module (memory i64 1)
          (func (export "fill") (param $n i64) (memory.fill (i64.const 0) (i32.const 7) (local.get $n))))`),
        'memory64',
      ).bytes,
    );
    const fill = m.exports.fill as unknown as (n: bigint) => void;
    expect(used(m, () => fill(100n))).toBe(used(m, () => fill(0n)) + 100n);
    m.fuel.value = 1n << 40n;
    expect(() => fill(-1n)).toThrow('out of fuel'); // 2^64 - 1 bytes: refused before it traps
    expect(m.fuel.value).toBe((1n << 40n) - (1n << 62n) - 4n);
  });

  it('charges table.fill, table.copy and table.init by their size too', () => {
    const m = instantiate(
      instrumentFuel(
        wat(`(module (table $t 64 funcref) (elem $e func $f $f $f $f $f $f $f $f)
          (func $f)
          (func (export "fill") (param $n i32) (table.fill $t (i32.const 0) (ref.func $f) (local.get $n)))
          (func (export "copy") (param $n i32) (table.copy $t $t (i32.const 8) (i32.const 0) (local.get $n)))
          (func (export "init") (param $n i32) (table.init $t $e (i32.const 0) (i32.const 0) (local.get $n))))`),
        'tables',
      ).bytes,
    );
    for (const op of ['fill', 'copy', 'init']) {
      const f = m.exports[op]!;
      expect(
        used(m, () => f(8)),
        op,
      ).toBe(used(m, () => f(0)) + 8n);
    }
    m.fuel.value = 50n;
    expect(() => m.exports.fill!(64)).toThrow('out of fuel'); // refused before it runs
    expect(m.calls.outOfFuel).toBe(1);
  });

  it('refuses memory.atomic.wait: it would block a worker without using fuel', async () => {
    for (const width of ['32', '64']) {
      const value = width === '32' ? '(i32.const 0)' : '(i64.const 0)';
      const bytes = wat(
        `(module (memory 1 1 shared) (func (export "f") (result i32) (memory.atomic.wait${width} (i32.const 0) ${value} (i64.const -1))))`,
      );
      expect(thrown(() => instrumentFuel(bytes, 'waits'))).toMatchObject({
        code: 'AOS_E_FUEL_UNSUPPORTED',
        details: { expression: 'AtomicWait' },
      });
    }
  });
});
