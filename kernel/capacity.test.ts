/**
 * A process's room for wasm memories (base/address-space.ts): an instance that would pass it is
 * refused with AOS_E_CAPACITY and the agents already running carry on; room comes back when
 * agents go; without V8's trap handler every defined memory is bounded (loader/memory-maximum.ts)
 * and a cap above the bound is refused. Each kernel runs in a process of its own, since the
 * count is process-wide.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import binaryen from 'binaryen';
import { describe, expect, it } from 'vitest';
import { fixture, sample, tempHome } from '../testing/harness.js';
import { BOUNDED_MEMORY_BYTES, trapHandlerDisabled } from './base/address-space.js';
import { packageRoot } from './base/paths.js';
import { declareMemoryMaximum } from './loader/memory-maximum.js';

const run = promisify(execFile);

interface ChildReport {
  space: { trapHandler: boolean; capacity: number; boundBy: string };
  spawned: number;
  refused: { code: string; message: string; details: Record<string, number> } | null;
  answer: unknown;
  again: string | null;
  bigCap: string;
}

async function child(
  wasm: string,
  spawns: number,
  opts: { env?: Record<string, string>; flags?: string[]; grants?: string } = {},
): Promise<ChildReport> {
  const script = join(packageRoot(), 'dist', 'testing', 'capacity-child.js');
  const args = [
    ...(opts.flags ?? []),
    script,
    tempHome(),
    wasm,
    String(spawns),
    ...(opts.grants ? [opts.grants] : []),
  ];
  const { stdout } = await run(process.execPath, args, {
    env: { ...process.env, ...opts.env },
    timeout: 120_000,
  });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as ChildReport;
}

const wat = (text: string): Uint8Array => {
  const m = binaryen.parseText(text);
  const bytes = m.emitBinary();
  m.dispose();
  return bytes;
};

/** The memory's maximum as V8 sees it: how far it grows before refusing, in pages. */
function maximumOf(bytes: Uint8Array): number {
  const memory = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports.m as unknown as {
    buffer: ArrayBuffer;
    grow(pages: number): number;
  };
  let pages = memory.buffer.byteLength / 65536;
  for (const step of [4096, 256, 16, 1]) {
    for (;;) {
      try {
        memory.grow(step);
        pages += step;
      } catch {
        break;
      }
    }
  }
  return pages;
}

describe('the process room for wasm memories', () => {
  it('refuses the instance past the capacity with AOS_E_CAPACITY; the others carry on, and room comes back', async () => {
    const r = await child(await fixture('echo-wat'), 20, { env: { AGENTOS_WASM_MEMORIES: '6' } });
    expect(r.space).toMatchObject({ trapHandler: true, capacity: 6, boundBy: 'AGENTOS_WASM_MEMORIES' });
    expect(r.refused).toMatchObject({
      code: 'AOS_E_CAPACITY',
      details: { alive: 6, needed: 1, capacity: 6 },
    });
    expect(r.refused!.message).toMatch(
      /no room for 1 more wasm memory: 6 are alive and this process holds at most 6/,
    );
    expect(r.answer).toEqual({ text: 'still here' });
    // Two terminated, one spawned again: their memories were collected.
    expect(r.again).toBe('spawned');
    expect(r.spawned).toBe(5);
  }, 150_000);

  it('counts every memory of a QuickJS instance (three)', async () => {
    const r = await child(await sample('echo'), 20, { env: { AGENTOS_WASM_MEMORIES: '7' }, grants: 'log' });
    expect(r.refused).toMatchObject({
      code: 'AOS_E_CAPACITY',
      details: { alive: 6, needed: 3, capacity: 7 },
    });
    expect(r.answer).toEqual({ text: 'still here' });
    expect(r.again).toBe('spawned');
  }, 150_000);

  it('holds about 2.5× as many without the trap handler, and bounds each memory to 1 GiB', async () => {
    const r = await child(await fixture('echo-wat'), 3, { flags: ['--disable-wasm-trap-handler'] });
    expect(r.space.trapHandler).toBe(false);
    expect(r.refused).toBeNull();
    expect(r.answer).toEqual({ text: 'still here' });
    expect(r.bigCap).toBe('AOS_E_BAD_CONFIG');
    const guarded = await child(await fixture('echo-wat'), 1);
    expect(guarded.bigCap).toBe('spawned');
    // Each memory takes 10 GiB of the 128 TiB with the trap handler, two mappings without it.
    expect(guarded.space.capacity).toBeLessThan(13_200);
    if (r.space.boundBy === 'vm.max_map_count')
      expect(r.space.capacity).toBeGreaterThan(guarded.space.capacity);
  }, 150_000);
});

async function scene(name: string, memories: number): Promise<Record<string, unknown>> {
  const script = join(packageRoot(), 'dist', 'testing', 'capacity-scenes.js');
  const { stdout } = await run(
    process.execPath,
    [script, name, tempHome(), await fixture('echo-wat'), await fixture('probe')],
    { env: { ...process.env, AGENTOS_WASM_MEMORIES: String(memories) }, timeout: 120_000 },
  );
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
}

describe('room comes back', () => {
  it('when a kernel closes: a second kernel in the process fills the same room', async () => {
    expect(await scene('reopen', 5)).toEqual({ first: 5, afterClose: 0, second: 5 });
  }, 150_000);

  it('when instances crash past their deadline and restart: the count follows the instances held', async () => {
    const r = await scene('worker-loss', 8);
    expect(r).toMatchObject({ before: 3, after: 2, answered: { text: 'ok' } });
    expect(r.killed).toMatch(/^AOS_E_DEADLINE/);
  }, 150_000);

  it('for a dormant agent woken without room: its message waits (not counted, not dead-lettered) and is answered', async () => {
    const r = await scene('dormant', 4);
    expect(r).toEqual({
      waiting: { settled: null, state: 'ready', deadLetters: 0 },
      answer: { text: 'after' },
      deadLettersAfter: 0,
    });
  }, 150_000);

  it('a replay with no room is refused with AOS_E_CAPACITY, not reported as a divergence', async () => {
    expect(await scene('replay', 4)).toEqual({ replayed: 'AOS_E_CAPACITY' });
  }, 150_000);

  it('refuses an AGENTOS_WASM_MEMORIES that is not a positive whole number, at open', async () => {
    for (const bad of ['abc', '-1', '0x10', '1e3', '0']) {
      const err = await run(
        process.execPath,
        [
          join(packageRoot(), 'dist', 'testing', 'capacity-child.js'),
          tempHome(),
          await fixture('echo-wat'),
          '1',
        ],
        {
          env: { ...process.env, AGENTOS_WASM_MEMORIES: bad },
        },
      ).then(
        () => null,
        (e: { stderr: string }) => e.stderr,
      );
      expect(err).toMatch(
        /AGENTOS_WASM_MEMORIES must be a positive whole number[\s\S]*code: 'AOS_E_BAD_CONFIG'/,
      );
    }
  }, 150_000);
});

describe('trapHandlerDisabled', () => {
  it('reads the flag from the command line and NODE_OPTIONS, the last one winning', () => {
    expect(trapHandlerDisabled([], '')).toBe(false);
    expect(trapHandlerDisabled(['--disable-wasm-trap-handler'], '')).toBe(true);
    expect(trapHandlerDisabled([], '--max-old-space-size=100 --no-wasm-trap-handler')).toBe(true);
    expect(trapHandlerDisabled(['--no-wasm-trap-handler', '--wasm-trap-handler'], '')).toBe(false);
  });
});

describe('declareMemoryMaximum', () => {
  const pages = BOUNDED_MEMORY_BYTES / 65536;

  it('gives a memory without a maximum the bound, and lowers a larger one', () => {
    expect(maximumOf(declareMemoryMaximum(wat('(module (memory (export "m") 1))'), 40, 'm'))).toBe(40);
    expect(maximumOf(declareMemoryMaximum(wat('(module (memory (export "m") 2 65536))'), 40, 'm'))).toBe(40);
    expect(pages).toBe(16384);
  });

  it('keeps a smaller maximum, and never goes below the initial size', () => {
    const small = wat('(module (memory (export "m") 1 8))');
    expect(declareMemoryMaximum(small, 40, 'm')).toBe(small);
    expect(maximumOf(declareMemoryMaximum(wat('(module (memory (export "m") 50))'), 40, 'm'))).toBe(50);
  });

  it('leaves modules without a memory of their own, and shared memories, as they are', () => {
    const none = wat('(module (import "e" "m" (memory 1)) (func (export "f")))');
    expect(declareMemoryMaximum(none, 40, 'm')).toBe(none);
    const shared = wat('(module (memory (export "m") 1 100 shared))');
    expect(declareMemoryMaximum(shared, 40, 'm')).toBe(shared);
  });

  it('keeps everything else of the module: the functions still run', () => {
    const bytes = declareMemoryMaximum(
      wat(
        '(module (memory (export "m") 1) (data (i32.const 8) "hi") (func (export "f") (result i32) (i32.load8_u (i32.const 9))))',
      ),
      40,
      'm',
    );
    const x = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports as { f: () => number };
    expect(x.f()).toBe('i'.charCodeAt(0));
  });

  it('refuses a damaged memory section with AOS_E_MALFORMED_COMPONENT', () => {
    const good = wat('(module (memory (export "m") 1))');
    // The memory section: id 5, size 3, one memory, flags 0, initial 1. Claim two memories.
    const at = good.findIndex((b, i) => b === 5 && good[i + 1] === 3 && good[i + 2] === 1);
    const bad = Uint8Array.from(good);
    bad[at + 2] = 2;
    expect(() => declareMemoryMaximum(bad, 40, 'bad.wasm')).toThrow(
      /AOS_E_MALFORMED_COMPONENT|memory section/,
    );
  });
});
