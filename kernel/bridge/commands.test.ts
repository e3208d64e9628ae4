import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../paths.js';
import { CommandSender, createCommandBuffer } from './commands.js';

// The worker side runs the compiled module (a worker cannot load TypeScript).
const commandsUrl = pathToFileURL(join(packageRoot(), 'dist', 'kernel', 'bridge', 'commands.js')).href;

/** A worker that answers each task with { echo: task, n } after `delayMs`. */
function worker(sab: SharedArrayBuffer, delayMs = 0): Worker {
  const code = `
    import { workerData, parentPort } from 'node:worker_threads';
    const { serveCommands } = await import(${JSON.stringify(commandsUrl)});
    let n = 0;
    await serveCommands(workerData.sab, async (task) => {
      if (workerData.delayMs) await new Promise((r) => setTimeout(r, workerData.delayMs));
      if (task?.op === 'fn') return () => 1;
      return { echo: task, n: ++n };
    });
    parentPort.postMessage('stopped');`;
  return new Worker(code, { eval: true, workerData: { sab, delayMs } });
}

describe('command channel', () => {
  it('runs tasks on the worker one after another and returns their results', async () => {
    const sender = new CommandSender(createCommandBuffer(4096));
    const w = worker(sender.sab);
    try {
      expect(await sender.send({ op: 'a', big: 2n ** 63n })).toEqual({
        echo: { op: 'a', big: 2n ** 63n },
        n: 1,
      });
      expect(await sender.send(['b', new Uint8Array([1, 2])])).toEqual({
        echo: ['b', new Uint8Array([1, 2])],
        n: 2,
      });
    } finally {
      await w.terminate();
    }
  });

  it('turns a result it cannot carry into a crash result', async () => {
    const sender = new CommandSender(createCommandBuffer(4096));
    const w = worker(sender.sab);
    try {
      expect(await sender.send({ op: 'fn' })).toMatchObject({
        kind: 'crash',
        message: /cannot encode a function/,
      });
    } finally {
      await w.terminate();
    }
  });

  it('refuses a second task while one is running', async () => {
    const sender = new CommandSender(createCommandBuffer(4096));
    const w = worker(sender.sab, 50);
    try {
      const first = sender.send({ op: 'one' });
      await expect(sender.send({ op: 'two' })).rejects.toThrow(/command channel busy/);
      expect(await first).toMatchObject({ echo: { op: 'one' } });
    } finally {
      await w.terminate();
    }
  });

  it('refuses a task larger than the buffer without sending it', async () => {
    const sender = new CommandSender(createCommandBuffer(256));
    await expect(sender.send('x'.repeat(1000))).rejects.toThrow(/exceeds the 256-byte command channel/);
  });

  it('fails the task in flight and every later one when the worker is gone, and stops its loop', async () => {
    const sender = new CommandSender(createCommandBuffer(4096));
    const w = worker(sender.sab, 200);
    const stopped = new Promise((r) => w.once('message', r));
    const inFlight = sender.send({ op: 'slow' });
    await new Promise((r) => setTimeout(r, 20));
    sender.stop();
    await expect(inFlight).rejects.toThrow(/the worker was stopped/);
    await expect(sender.send({ op: 'later' })).rejects.toThrow(/the worker was stopped/);
    expect(await stopped).toBe('stopped');
    await w.terminate();
  });
});
