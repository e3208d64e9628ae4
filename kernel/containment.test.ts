import { describe, expect, it } from 'vitest';
import { codeOf } from '../testing/expect-error.js';
import { fixture, openKernel, PROBE_GRANTS, sample } from '../testing/harness.js';
import type { Kernel } from './kernel.js';

let kernel: Kernel;

/** One delivery per message: these tests are about what ends a call, not about retries. */
const ONCE = { delivery: { attempts: 1 } };

describe('a crash discards that instance only', () => {
  it('keeps the kernel and other agents running while one agent traps on every message', async () => {
    kernel = await openKernel(ONCE);
    const trapper = await kernel.spawn(await fixture('probe'), {
      grants: PROBE_GRANTS,
      config: { trapAlways: true },
    });
    const wasmTrapper = await kernel.spawn(await fixture('trap-wat'));
    const echo = await kernel.spawn(await sample('echo'), { grants: ['log'] });
    for (let i = 0; i < 5; i++) {
      const [a, b, c] = await Promise.all([
        codeOf(kernel.send(trapper, { i })),
        codeOf(kernel.send(wasmTrapper, { i })),
        kernel.send(echo, { i }),
      ]);
      // A JS throw inside SpiderMonkey is reported with its message (the build wraps exports).
      expect(a).toMatch(/^AOS_E_AGENT_CRASHED: probe-[\w-]+ crashed: Error: probe traps on message \d+\n/);
      expect(b).toMatch(
        /^AOS_E_AGENT_CRASHED: trap-wat-[\w-]+ crashed: RuntimeError: wasm trap: wasm `unreachable`/,
      );
      expect(c).toEqual({ i });
    }
    expect(kernel.inspect(trapper)).toMatchObject({
      state: 'crashed',
      resident: false,
      generation: 5, // the instance started at spawn took message 1; messages 2..5 each restarted it
      stats: { invocations: 5, crashes: 5 },
      lastError: { code: 'AOS_E_AGENT_CRASHED' },
    });
    expect(kernel.inspect(echo)).toMatchObject({
      state: 'ready',
      generation: 1,
      stats: { invocations: 5, crashes: 0 },
    });
  });

  it('treats a malformed return value as a crash and restarts on the next message', async () => {
    kernel = await openKernel(ONCE);
    const id = await kernel.spawn(await fixture('probe'), { grants: PROBE_GRANTS });
    expect(await kernel.send(id, { op: 'state' })).toEqual({ handled: 1 });
    expect(await kernel.send(id, { op: 'state' })).toEqual({ handled: 2 });
    // Malformed JSON would come back the same way: dead-lettered on its first attempt.
    expect(await codeOf(kernel.send(id, { op: 'bad-json' }))).toMatch(
      /^AOS_E_BAD_RESULT: .*crashed: handle returned malformed JSON: this is not JSON; dead-lettered at once/,
    );
    // A new instance, its heap rebuilt from the journal: the two calls that returned count, the
    // crashed one does not.
    expect(await kernel.send(id, { op: 'state' })).toEqual({ handled: 3 });
    expect(await codeOf(kernel.send(id, { op: 'bad-type' }))).toMatch(/^AOS_E_AGENT_CRASHED: .*RuntimeError/);
    expect(await codeOf(kernel.send(id, { op: 'trap' }))).toMatch(
      /^AOS_E_AGENT_CRASHED: .*crashed: Error: probe was asked to trap\n/,
    );
    expect(await kernel.send(id, { op: 'state' })).toEqual({ handled: 4 });
    expect(kernel.inspect(id)).toMatchObject({ state: 'ready', generation: 4, stats: { crashes: 3 } });
  });

  it('with restart "never", a crashed agent keeps its messages queued until resumed', async () => {
    kernel = await openKernel(ONCE);
    const id = await kernel.spawn(await fixture('probe'), { grants: PROBE_GRANTS, restart: 'never' });
    expect(await codeOf(kernel.send(id, { op: 'trap' }))).toMatch(/^AOS_E_AGENT_CRASHED/);
    const other = await kernel.spawn(await fixture('probe'), { grants: PROBE_GRANTS });
    const later = kernel.send(id, { op: 'state' });
    // A runnable agent's message goes to a free worker before send returns (the executor
    // dispatches at once); and the kernel runs other work meanwhile, leaving it queued.
    expect(kernel.inspect(id)).toMatchObject({ state: 'crashed', busy: false, mailbox: 1 });
    expect(await kernel.send(other, { op: 'state' })).toEqual({ handled: 1 });
    expect(kernel.inspect(id)).toMatchObject({ state: 'crashed', busy: false, mailbox: 1 });
    kernel.resume(id);
    expect(await later).toEqual({ handled: 1 });
    expect(kernel.inspect(id).state).toBe('ready');
  });

  it('keeps working memory written before a crash', async () => {
    kernel = await openKernel(ONCE);
    const id = await kernel.spawn(await fixture('probe'), { grants: PROBE_GRANTS });
    await kernel.send(id, { op: 'wm', calls: [['set', 'k', 'v1']] });
    await codeOf(kernel.send(id, { op: 'trap' }));
    expect(await kernel.send(id, { op: 'wm', calls: [['get', 'k']] })).toEqual([{ ok: 'v1' }]);
  });
});
