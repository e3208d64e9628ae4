import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { Kernel } from '../../kernel/kernel.js';
import { fixture, openKernel } from '../../kernel/testing/harness.js';
import { MAX_LOG_MESSAGE } from './index.js';

const GRANTS = ['log', 'clock', 'random', 'working-memory'];
let kernel: Kernel;
afterEach(async () => {
  await kernel?.close();
});

function capture(level: string): { lines: Record<string, unknown>[]; logger: pino.Logger } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _e, done) {
      for (const l of chunk.toString().split('\n'))
        if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { lines, logger: pino({ level }, sink) };
}

describe('log', () => {
  it('writes guest lines to the kernel log, tagged with the agent, at the guest level', async () => {
    const { lines, logger } = capture('info');
    kernel = await openKernel({ logger });
    const id = await kernel.spawn(await fixture('probe'), { grants: GRANTS });
    await kernel.send(id, { op: 'log', level: 'warn', message: 'disk almost full', fields: '{"free":3}' });
    await kernel.send(id, { op: 'log', level: 'debug', message: 'not shown at info' });
    await kernel.send(id, { op: 'log', level: 'error', message: 'odd fields', fields: 'not json' });
    const guest = lines.filter((l) => l.source === 'guest');
    expect(guest).toEqual([
      expect.objectContaining({ level: 40, agent: id, msg: 'disk almost full', fields: { free: 3 } }),
      expect.objectContaining({ level: 50, agent: id, msg: 'odd fields', fields: 'not json' }),
    ]);
  });

  it('cuts very long messages instead of failing', async () => {
    const { lines, logger } = capture('info');
    kernel = await openKernel({ logger });
    const id = await kernel.spawn(await fixture('probe'), { grants: GRANTS });
    expect(await kernel.send(id, { op: 'log', message: 'x'.repeat(MAX_LOG_MESSAGE + 100) })).toBe('logged');
    const msg = lines.find((l) => l.source === 'guest')!.msg as string;
    expect(msg.length).toBeLessThan(MAX_LOG_MESSAGE + 20);
    expect(msg.endsWith('(cut)')).toBe(true);
  });
});
