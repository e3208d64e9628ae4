import { describe, expect, it } from 'vitest';
import type { Kernel } from '../../kernel/kernel.js';
import { captureLog, fixture, openKernel, PROBE_GRANTS } from '../../testing/harness.js';
import { MAX_LOG_MESSAGE } from './index.js';

let kernel: Kernel;

describe('log', () => {
  it('writes guest lines to the kernel log, tagged with the agent, at the guest level', async () => {
    const { lines, logger } = captureLog('info');
    kernel = await openKernel({ logger });
    const id = await kernel.spawn(await fixture('probe'), { grants: PROBE_GRANTS });
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
    const { lines, logger } = captureLog('info');
    kernel = await openKernel({ logger });
    const id = await kernel.spawn(await fixture('probe'), { grants: PROBE_GRANTS });
    expect(await kernel.send(id, { op: 'log', message: 'x'.repeat(MAX_LOG_MESSAGE + 100) })).toBe('logged');
    const msg = lines.find((l) => l.source === 'guest')!.msg as string;
    expect(msg.length).toBeLessThan(MAX_LOG_MESSAGE + 20);
    expect(msg.endsWith('(cut)')).toBe(true);
  });
});
