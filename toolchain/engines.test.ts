/**
 * Both JS engines behind `agentos build --engine`: what a QuickJS build exports, and the one error
 * convention guests follow on either engine (return the value or `{ tag: 'ok' | 'err', val }`,
 * throw `{ tag, val }` for a guest error; anything else thrown is a crash with its stack).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { inspectComponent } from '../kernel/loader/loader.js';
import { codeOf, errorOf } from '../testing/expect-error.js';
import { fixture, openKernel, sample } from '../testing/harness.js';
import { exportNames, rewriteExports } from './component-exports.js';
import { componentizeWith, DEFAULT_ENGINE } from './engines.js';

/** One delivery per message: a crash is reported once. */
const ONCE = { delivery: { attempts: 1 } };

const ENGINES = [
  { engine: 'spidermonkey', agent: 'thrower', skill: 'thrower-skill', frame: /\n {4}nested@\S+:\d+:\d+/ },
  { engine: 'quickjs', agent: 'thrower-qjs', skill: 'thrower-skill-qjs', frame: /\n {4}at nested \(/ },
] as const;

describe.each(ENGINES)('the error convention on $engine', ({ agent, skill, frame }) => {
  it('a returned value or ok is the outcome; a returned err or a thrown variant is a guest error', async () => {
    const kernel = await openKernel(ONCE);
    const id = await kernel.spawn(await fixture(agent));
    expect(await kernel.send(id, { hello: 1 })).toEqual({ hello: 1 });
    expect(await kernel.send(id, { return: 'ok' })).toBe('returned ok');
    const returned = await errorOf(kernel.send(id, { return: 'err' }));
    expect(returned).toMatchObject({
      code: 'AOS_E_AGENT_ERROR',
      details: { tag: 'denied', reason: 'returned as a guest error' },
    });
    const thrown = await errorOf(kernel.send(id, { throw: 'variant' }));
    expect(thrown).toMatchObject({
      code: 'AOS_E_AGENT_ERROR',
      details: { tag: 'denied', reason: 'thrown as a guest error' },
    });
    // Guest errors keep the instance.
    expect(kernel.inspect(id)).toMatchObject({ generation: 1, stats: { crashes: 0 } });
  });

  it('anything else thrown is a crash report with the guest frames, and the next call runs', async () => {
    const kernel = await openKernel(ONCE);
    const id = await kernel.spawn(await fixture(agent));
    const e = await errorOf(kernel.send(id, { throw: 'error' }));
    expect(e.code).toBe('AOS_E_AGENT_CRASHED');
    expect(e.message).toContain('crashed: Error: thrower was asked to throw an error');
    expect(e.message).toMatch(frame);
    for (const [what, expected] of [
      ['string', /crashed: thrown string: a plain string;/],
      ['object', /crashed: thrown object: \{"reason":"an object","n":7\};/],
      ['null', /crashed: thrown null: null;/],
    ] as const) {
      const c = await errorOf(kernel.send(id, { throw: what }));
      expect(c.code, what).toBe('AOS_E_AGENT_CRASHED');
      expect(c.message, what).toMatch(expected);
    }
    expect(await kernel.send(id, { after: true })).toEqual({ after: true });
  });

  it('init: a returned err refuses the spawn as a failed init, a thrown Error as a crash', async () => {
    const kernel = await openKernel(ONCE);
    const failed = await errorOf(kernel.spawn(await fixture(agent), { config: { failInit: 'not today' } }));
    expect(failed.code).toBe('AOS_E_INIT_FAILED');
    expect(failed.message).toContain('not today');
    const crashed = await errorOf(kernel.spawn(await fixture(agent), { config: { throwInit: 'no config' } }));
    expect(crashed.code).toBe('AOS_E_AGENT_CRASHED');
    expect(crashed.message).toContain('Error: no config');
  });

  it('its heap survives suspend and resume, goes on in a fork, and its run replays identically', async () => {
    const kernel = await openKernel(ONCE);
    const id = await kernel.spawn(await fixture(agent));
    for (let i = 0; i < 3; i++) await kernel.send(id, { i });
    kernel.suspend(id);
    kernel.resume(id);
    expect(await kernel.send(id, { return: 'calls' })).toEqual({ calls: 4 });
    const fork = await kernel.fork(id);
    expect(await kernel.send(fork, { return: 'calls' })).toEqual({ calls: 5 });
    expect(await kernel.replay(id)).toMatchObject({ identical: true, invocations: 4 });
  });

  it("a skill's describe and invoke report what they throw, and the skill answers the next call", async () => {
    const kernel = await openKernel(ONCE);
    const id = await kernel.spawn(await fixture(skill));
    expect((await errorOf(kernel.describe(id))).message).toContain(
      'crashed: Error: describe was asked to throw',
    );
    expect((await errorOf(kernel.invoke(id, 'throw', {}))).message).toContain(
      'crashed: Error: tool throw threw',
    );
    expect(await kernel.invoke(id, 'fine', {})).toEqual({ ok: true });
  });
});

describe('the engines apart', () => {
  it('a promise from a QuickJS export is a crash that says why; SpiderMonkey awaits it', async () => {
    const kernel = await openKernel(ONCE);
    const qjs = await errorOf(
      kernel.send(await kernel.spawn(await fixture('thrower-qjs')), { throw: 'async' }),
    );
    expect(qjs.code).toBe('AOS_E_AGENT_CRASHED');
    expect(qjs.message).toContain('handle returned a promise: QuickJS exports run synchronously');
    const sm = await errorOf(kernel.send(await kernel.spawn(await fixture('thrower')), { throw: 'async' }));
    expect(sm.message).toMatch(/crashed: RangeError: rejected later/);
  });

  it("QuickJS: Date.now() is a crash that names the kernel's clock (no trap); new Date(value) works", async () => {
    const kernel = await openKernel(ONCE);
    const id = await kernel.spawn(await fixture('thrower-qjs'));
    const e = await errorOf(kernel.send(id, { return: 'date' }));
    expect(e.code).toBe('AOS_E_AGENT_CRASHED');
    expect(e.message).toContain(
      'Date.now(): a QuickJS component has no clock of its own; use now() from agentos:kernel/clock',
    );
    expect(await kernel.send(id, { after: 1 })).toEqual({ after: 1 });
    // SpiderMonkey's clock is fixed at build (docs/determinism.md).
    const sm = await kernel.send(await kernel.spawn(await fixture('thrower')), {
      return: 'date',
    });
    expect(sm).toMatchObject({ epoch: '1970-01-01T00:00:00.000Z' });
  });

  it('a QuickJS build exports exactly its world, at a fraction of the size', async () => {
    expect(DEFAULT_ENGINE).toBe('quickjs');
    const qjs = readFileSync(await fixture('thrower-qjs'));
    const sm = readFileSync(await fixture('thrower'));
    expect(exportNames(qjs).sort()).toEqual(['handle', 'init']);
    const info = await inspectComponent(qjs, 'thrower-qjs');
    expect(info.world).toBe('agent');
    expect(info.imports).toEqual(['agentos:kernel/types@0.1.0']); // as SpiderMonkey's: no WASI
    expect(qjs.length * 4).toBeLessThan(sm.length);
    expect(exportNames(readFileSync(await sample('text-stats'))).sort()).toEqual(['describe', 'invoke']);
  });

  it('refuses an unknown engine, and an export rewrite it cannot do, with clear errors', async () => {
    expect(
      await codeOf(
        componentizeWith('v8' as 'quickjs', { code: '', world: 'agent', imports: [], entry: 'x.js' }),
      ),
    ).toBe('AOS_E_BAD_ARGUMENT: --engine must be one of quickjs, spidermonkey, got v8');
    const qjs = readFileSync(await fixture('thrower-qjs'));
    expect(() => rewriteExports(qjs, { drop: ['nope'] })).toThrow(
      'the component has no top-level export "nope"',
    );
    expect(() => rewriteExports(qjs.subarray(0, 100), {})).toThrow(/truncated/);
    expect(() => rewriteExports(new Uint8Array(8), {})).toThrow('not a component (bad header)');
    // A rename only: the bytes change where the name is, and the world is the same otherwise.
    const renamed = rewriteExports(qjs, { rename: { handle: 'other' } });
    expect(exportNames(renamed).sort()).toEqual(['init', 'other']);
  });
});
