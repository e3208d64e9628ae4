/**
 * Core modules for the fuel pass's tests: from WAT (as binaryen emits it), metered and
 * instantiated with an `agentos:meter` whose out_of_fuel refills a grant a few times then throws,
 * and the fuel a call uses.
 *
 * @example
 * const m = instantiate(instrumentFuel(wat('(module (func (export "f")))')).bytes);
 * used(m, () => m.exports.f!()); // 1n
 */
import binaryen from 'binaryen';
import { FUEL } from '../kernel/fuel/names.js';

const B = binaryen as typeof binaryen & { Features: { CompactImports: number } };

/** A core module from WAT, as binaryen emits it. */
export function wat(text: string): Uint8Array {
  const m = binaryen.parseText(text);
  m.setFeatures(B.Features.All & ~B.Features.CompactImports);
  const out = m.emitBinary();
  m.dispose();
  return out;
}

export interface Metered {
  exports: Record<string, (...a: number[]) => number | bigint>;
  fuel: WebAssembly.Global;
  limit: WebAssembly.Global;
  calls: { outOfFuel: number; memoryLimit: number[] };
}

/** Instantiates a metered module whose out_of_fuel throws after `refills` refills of `grant`. */
export function instantiate(bytes: Uint8Array, grant = 1_000_000n, refills = 0): Metered {
  const calls = { outOfFuel: 0, memoryLimit: [] as number[] };
  let fuel: WebAssembly.Global | undefined;
  const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes), {
    [FUEL.module]: {
      [FUEL.outOfFuel]: () => {
        calls.outOfFuel++;
        if (calls.outOfFuel > refills) throw new Error('out of fuel');
        fuel!.value = grant;
      },
      [FUEL.memoryLimit]: (pages: number) => {
        calls.memoryLimit.push(pages);
        throw new Error('memory limit');
      },
    },
  });
  fuel = inst.exports[FUEL.fuelGlobal] as WebAssembly.Global;
  const limit = inst.exports[FUEL.memoryLimitGlobal] as WebAssembly.Global;
  return { exports: inst.exports as Metered['exports'], fuel, limit, calls };
}

/** What `f` throws. */
export function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw');
}

/** The export names of a core module. */
export const exportNames = (bytes: Uint8Array): string[] =>
  WebAssembly.Module.exports(new WebAssembly.Module(bytes)).map((e) => e.name);

/** Fuel used by `f`, starting from a full tank. */
export function used(m: Metered, f: () => unknown): bigint {
  m.fuel.value = 1n << 40n;
  f();
  return (1n << 40n) - (m.fuel.value as bigint);
}
