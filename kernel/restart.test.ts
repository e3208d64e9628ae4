import { describe, expect, it } from 'vitest';
import { openKernel, sample, tempHome } from '../testing/harness.js';
import type { Kernel } from './kernel.js';

let kernel: Kernel | undefined;

describe('state survives a kernel restart', () => {
  it('keeps the process table, mailboxes (FIFO) and working memory', async () => {
    const home = tempHome();
    kernel = await openKernel({ home });
    const counter = await kernel.spawn(await sample('counter'), { grants: ['log', 'working-memory'] });
    const echo = await kernel.spawn(await sample('echo'), { grants: ['log'] });
    expect(await kernel.send(counter, { by: 2 })).toEqual({ count: 2 });
    kernel.suspend(counter);
    const queued = [3, 4, 5].map((by) => kernel!.post(counter, { by }).messageId);
    await kernel.terminate(echo);
    await kernel.close();

    kernel = await openKernel({ home });
    const agents = kernel.list();
    expect(agents.map((a) => [a.id, a.state])).toEqual([
      [counter, 'suspended'],
      [echo, 'terminated'],
    ]);
    expect(kernel.mailbox(counter).map((m) => [m.id, m.body])).toEqual([
      [queued[0], '{"by":3}'],
      [queued[1], '{"by":4}'],
      [queued[2], '{"by":5}'],
    ]);
    expect(kernel.inspect(counter).stats.invocations).toBe(1);
    kernel.resume(counter);
    // The queued messages run first, in order; this one sees their effect.
    expect(await kernel.send(counter, { by: 0 })).toEqual({ count: 14 });
    const outcomes = (await kernel.journal(counter)).filter((e) => e.t === 'outcome');
    expect(outcomes.map((e) => (e as { value: string }).value)).toEqual([
      '{"count":2}',
      '{"count":5}',
      '{"count":9}',
      '{"count":14}',
      '{"count":14}',
    ]);
  });

  it('delivers messages left in the mailbox of a ready agent as soon as the kernel opens', async () => {
    const home = tempHome();
    kernel = await openKernel({ home, workers: 1 });
    const counter = await kernel.spawn(await sample('counter'), { grants: ['log', 'working-memory'] });
    kernel.suspend(counter);
    kernel.post(counter, { by: 40 });
    await kernel.close();
    kernel = await openKernel({ home, workers: 1 });
    kernel.resume(counter);
    expect(await kernel.send(counter, { by: 2 })).toEqual({ count: 42 });
    expect(kernel.inspect(counter)).toMatchObject({ state: 'ready', generation: 2, mailbox: 0 });
  });

  it('rejects waiters with AOS_E_KERNEL_CLOSED at close and keeps their messages', async () => {
    const home = tempHome();
    kernel = await openKernel({ home });
    const counter = await kernel.spawn(await sample('counter'), { grants: ['log', 'working-memory'] });
    kernel.suspend(counter);
    const waiting = kernel.send(counter, { by: 1 }).catch((e: Error) => String(e));
    await kernel.close();
    expect(await waiting).toMatch(/^AOS_E_KERNEL_CLOSED/);
    kernel = await openKernel({ home });
    expect(kernel.mailbox(counter)).toHaveLength(1);
  });

  it('reports an agent whose stored component went missing, and keeps the others running', async () => {
    const { rmSync } = await import('node:fs');
    const home = tempHome();
    kernel = await openKernel({ home });
    const echo = await kernel.spawn(await sample('echo'), { grants: ['log'] });
    const counter = await kernel.spawn(await sample('counter'), { grants: ['log', 'working-memory'] });
    const digest = kernel.inspect(echo).digest;
    await kernel.close();
    rmSync(`${home}/components/${digest}.wasm`);
    kernel = await openKernel({ home });
    // Found at open, when its component is read back to be checked against the trust store.
    expect(kernel.inspect(echo)).toMatchObject({
      state: 'crashed',
      lastError: {
        code: 'AOS_E_COMPONENT_NOT_FOUND',
        message: expect.stringMatching(/^cannot restore: component [0-9a-f]+ is missing/),
      },
    });
    await expect(kernel.send(echo, 'hi')).rejects.toMatchObject({
      code: 'AOS_E_BAD_STATE',
      message: expect.stringMatching(/could not be restored: cannot restore: component [0-9a-f]+ is missing/),
    });
    expect(await kernel.send(counter, { by: 1 })).toEqual({ count: 1 });
  });

  it('refuses a data dir that is a file, creating nothing', async () => {
    const { writeFileSync } = await import('node:fs');
    const file = `${tempHome()}/not-a-dir`;
    writeFileSync(file, 'keep me');
    await expect(openKernel({ home: file })).rejects.toMatchObject({
      code: 'AOS_E_DATA_DIR',
      message: expect.stringContaining('is not a directory'),
    });
    const { readFileSync } = await import('node:fs');
    expect(readFileSync(file, 'utf8')).toBe('keep me');
  });
});
