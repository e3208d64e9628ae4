import { parse } from '@bytecodealliance/jco';
import { describe, expect, it } from 'vitest';
import { instantiate, used, wat } from '../../testing/metered.js';
import { instrumentFuel } from './pass.js';

const metered = (text: string, grant = 10_000n, refills = 0) =>
  instantiate(instrumentFuel(wat(text), 'hostile').bytes, grant, refills);

describe('fuel pass, attacked', () => {
  it('charges exactly the instructions each path runs, across a branch out of a block', () => {
    const m = metered(`(module
      (func (export "pick") (param $x i32) (result i32)
        (if (result i32) (local.get $x) (then (i32.const 1)) (else (i32.const 2))))
      (func (export "skip") (param $x i32) (result i32)
        (block $b (br_if $b (local.get $x)) (drop (i32.const 5)))
        (i32.const 7)))`);
    // local.get, if, a const: end and else are free.
    expect(used(m, () => m.exports.pick!(1))).toBe(3n);
    expect(used(m, () => m.exports.pick!(0))).toBe(3n);
    // block, local.get, br_if, then i32.const 7; or also the const and drop the branch skipped.
    expect(used(m, () => m.exports.skip!(1))).toBe(4n);
    expect(used(m, () => m.exports.skip!(0))).toBe(6n);
  });

  it('flushes what a branch to the function label leaves pending, as a return does', async () => {
    // wasm-tools keeps the structure as written: the br leaves to the function's own label.
    const source = await parse(`(module (global $g (mut i32) (i32.const 0))
      (func (export "early") (param $x i32) (result i32)
        (if (local.get $x) (then (br 1 (i32.const 9))))
        (global.set $g (i32.const 1)) (global.set $g (i32.const 2)) (global.set $g (i32.const 3))
        (i32.const 4))
      (func (export "ret") (param $x i32) (result i32)
        (if (local.get $x) (then (return (i32.const 9))))
        (i32.const 4)))`);
    const m = instantiate(instrumentFuel(source, 'hostile').bytes);
    expect(used(m, () => m.exports.early!(1))).toBe(4n); // local.get, if; then i32.const 9, br
    expect(used(m, () => m.exports.early!(1))).toBe(4n);
    expect(used(m, () => m.exports.early!(0))).toBe(9n); // local.get, if; three stores, the const
    expect(used(m, () => m.exports.ret!(1))).toBe(4n);
  });

  it('stops endless tail recursion, an endless br_table loop and an endless catch loop', () => {
    const m = metered(
      `(module (tag $e)
        (func $tail (export "tail") (param i32) (result i32) (return_call $tail (local.get 0)))
        (func (export "table") (loop $l (br_table $l $l (i32.const 1))))
        (func $thrower (drop (i32.const 1)) (drop (i32.const 2)) (drop (i32.const 3)) (throw $e))
        (func (export "catching") (loop $l (try (do (call $thrower)) (catch $e)) (br $l))))`,
      10_000n,
      2,
    );
    for (const f of ['tail', 'table', 'catching'] as const) {
      m.calls.outOfFuel = 0;
      m.fuel.value = 10_000n;
      expect(() => m.exports[f]!(1), f).toThrow('out of fuel');
      expect(m.calls.outOfFuel, f).toBe(3);
    }
  });

  it('charges what a function ran before it threw, when its caller catches it', () => {
    const m = metered(`(module (tag $e) (global $g (mut i32) (i32.const 0))
      (func $thrower (param $n i32)
        (if (local.get $n) (then
          (global.set $g (i32.const 1)) (global.set $g (i32.const 2)) (global.set $g (i32.const 3))
          (global.set $g (i32.const 4)) (global.set $g (i32.const 5)) (global.set $g (i32.const 6))
          (throw $e))))
      (func (export "once") (param $n i32) (try (do (call $thrower (local.get $n))) (catch $e))))`);
    // The six stores (12 instructions) and the throw, on top of what the quiet path costs.
    expect(used(m, () => m.exports.once!(1)) - used(m, () => m.exports.once!(0))).toBe(13n);
  });

  it('keeps every function index right: tables, ref.func in globals and elements, the start function, names', async () => {
    const text = `(module
        (import "env" "seven" (func $seven (result i32)))
        (type $r (func (result i32)))
        (table $t 3 funcref)
        (global $started (mut i32) (i32.const 0))
        (global $fref funcref (ref.func $two))
        (elem (table $t) (i32.const 0) func $one $two $seven)
        (func $one (result i32) (i32.const 1))
        (func $two (result i32) (i32.const 2))
        (func $init (global.set $started (i32.const 42)))
        (start $init)
        (func (export "via") (param $i i32) (result i32) (call_indirect (type $r) (local.get $i)))
        (func (export "direct") (result i32) (i32.add (call $two) (call $seven)))
        (func (export "started") (result i32) (global.get $started))
        (func $boom (export "explode") (unreachable)))`;
    const source = await parse(text); // wasm-tools writes the name section a compiler would
    const names = (b: Uint8Array) => WebAssembly.Module.customSections(new WebAssembly.Module(b), 'name');
    expect(names(source)).toHaveLength(1);
    const bytes = instrumentFuel(source, 'indices').bytes;
    const module = new WebAssembly.Module(bytes);
    let outOfFuel = 0;
    const inst = new WebAssembly.Instance(module, {
      env: { seven: () => 7 },
      'agentos:meter': { out_of_fuel: () => outOfFuel++ },
    });
    // The engine ran no start function: it is exported for the meter to run, metered.
    expect(outOfFuel).toBe(0);
    const e = inst.exports as Record<string, (i?: number) => number>;
    expect(e.started!()).toBe(0);
    expect(WebAssembly.Module.exports(module).find((x) => x.name === '__agentos_start')?.kind).toBe(
      'function',
    );
    (inst.exports.__agentos_fuel as WebAssembly.Global).value = 1n << 40n;
    e.__agentos_start!();
    expect([e.via!(0), e.via!(1), e.via!(2), e.direct!(), e.started!()]).toEqual([1, 2, 7, 9, 42]);
    // The names moved with their functions: a trap's stack names the function that trapped.
    expect(names(bytes)).toHaveLength(1);
    expect(() => e.explode!()).toThrow(
      expect.objectContaining({ stack: expect.stringMatching(/at boom \(wasm/) }),
    );
  });

  it('meters multi-value functions and blocks with parameters, their values intact', () => {
    const m = metered(`(module
      (func $pair (param $a i32) (result i32 i32) (local.get $a) (i32.add (local.get $a) (i32.const 1)))
      (func (export "sum") (param $a i32) (result i32)
        (call $pair (local.get $a))
        (block (param i32 i32) (result i32) (i32.add))))`);
    m.fuel.value = 1000n;
    expect(m.exports.sum!(20)).toBe(41);
  });

  it('meters a module without memory or functions, and one whose memory is imported', () => {
    expect(WebAssembly.validate(instrumentFuel(wat('(module)'), 'empty').bytes)).toBe(true);
    const bytes = instrumentFuel(
      wat(
        '(module (import "env" "mem" (memory 1)) (func (export "grow") (result i32) (memory.grow (i32.const 1))))',
      ),
      'imported memory',
    ).bytes;
    const asked: number[] = [];
    const limit = { g: undefined as unknown as WebAssembly.Global };
    const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes), {
      env: { mem: new WebAssembly.Memory({ initial: 1 }) },
      'agentos:meter': { out_of_fuel: () => 0, memory_limit: (d: number) => void asked.push(d) }, // 0: go on
    });
    limit.g = inst.exports.__agentos_memory_limit as WebAssembly.Global;
    (inst.exports.__agentos_fuel as WebAssembly.Global).value = 1n << 40n;
    limit.g.value = 1;
    expect((inst.exports.grow as () => number)()).toBe(1);
    expect(asked).toEqual([1]);
  });

  it('drops a damaged name section (V8 does not check it) and meters the module', () => {
    const good = wat('(module (func (export "f") (result i32) (i32.const 3)))');
    // A custom section "name" whose function-name map claims more entries than it has.
    const damaged = Uint8Array.from([...good, 0, 9, 4, ...Buffer.from('name'), 1, 2, 5, 0]);
    expect(WebAssembly.validate(damaged)).toBe(true);
    const bytes = instrumentFuel(damaged, 'damaged names').bytes;
    expect(WebAssembly.Module.customSections(new WebAssembly.Module(bytes), 'name')).toHaveLength(0);
    const m = instantiate(bytes);
    m.fuel.value = 100n;
    expect(m.exports.f!()).toBe(3);
  });

  it('checks at returns: a deep recursion unwinding through long straight code is stopped', () => {
    const stores = Array.from({ length: 2000 }, (_, i) => `(global.set $g (i32.const ${i}))`).join(' ');
    const m = metered(
      `(module (global $g (mut i32) (i32.const 0))
        (func $f (export "f") (param $n i32)
          (if (local.get $n) (then (call $f (i32.sub (local.get $n) (i32.const 1)))))
          ${stores}))`,
      100_000n,
    );
    m.fuel.value = 100_000n;
    // 1,000 frames of 4,000 instructions each on the way back up: stopped at the first check
    // past the grant, not after all of them with the counter 4 M below zero.
    expect(() => m.exports.f!(1000)).toThrow('out of fuel');
    expect(m.fuel.value as bigint).toBeGreaterThan(-10_000n);
  });

  it('flushes before a call what may be pending past the slack, so a throw through it loses little', () => {
    const stores = Array.from({ length: 1000 }, (_, i) => `(global.set $g (i32.const ${i}))`).join(' ');
    const m = metered(`(module (tag $e) (global $g (mut i32) (i32.const 0))
      (func $thrower (throw $e))
      (func $work (param $n i32) (if (local.get $n) (then ${stores} (call $thrower))))
      (func (export "once") (param $n i32) (try (do (call $work (local.get $n))) (catch $e))))`);
    // The 2,000 instructions of the stores ran before the throw unwound $work: all charged.
    expect(used(m, () => m.exports.once!(1)) - used(m, () => m.exports.once!(0))).toBeGreaterThanOrEqual(
      2000n,
    );
  });

  it('moves and checks every name section, not just the first (a damaged one before it is dropped)', async () => {
    const source = await parse(
      '(module (func $pad) (func $boom (export "explode") (unreachable)) (func $__agentos_hidden))',
    );
    const damaged = [0, 9, 4, ...Buffer.from('name'), 1, 2, 5, 0];
    const twice = Uint8Array.from([...source.subarray(0, 8), ...damaged, ...source.subarray(8)]);
    expect(WebAssembly.validate(twice)).toBe(true);
    expect(() => instrumentFuel(twice, 'two names')).toThrow(
      expect.objectContaining({
        code: 'AOS_E_RESERVED_NAME',
        details: { kind: 'function', name: '__agentos_hidden' },
      }),
    );
    const fine = await parse('(module (func $pad) (func $boom (export "explode") (unreachable)))');
    const bytes = instrumentFuel(
      Uint8Array.from([...fine.subarray(0, 8), ...damaged, ...fine.subarray(8)]),
      'two names',
    ).bytes;
    const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes), {
      'agentos:meter': { out_of_fuel: () => 0 },
    });
    (inst.exports.__agentos_fuel as WebAssembly.Global).value = 1n << 40n;
    expect(() => (inst.exports.explode as () => void)()).toThrow(
      expect.objectContaining({ stack: expect.stringMatching(/at boom \(wasm/) }),
    );
  });
});
