import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../base/paths.js';
import { encodeToBytes } from './codec.js';
import { CommandSender, createCommandBuffer } from './commands.js';

// The worker side runs the compiled module (a worker cannot load TypeScript).
const commandsUrl = pathToFileURL(join(packageRoot(), 'dist', 'kernel', 'bridge', 'commands.js')).href;

/**
 * A worker that answers each task with { echo: task, n } after `delayMs`; `{ op: 'big', bytes }`
 * with a string of that many characters, `{ op: 'fn' }` with a function (which cannot be sent),
 * `{ op: 'fn-used' }` with a function beside usage figures. `maxResultBytes` and `custom` (an
 * `unsendable` that keeps the figures and says so) go to serveCommands.
 */
function worker(
  sab: SharedArrayBuffer,
  delayMs = 0,
  options: { maxResultBytes?: number; custom?: boolean } = {},
): Worker {
  const code = `
    import { workerData, parentPort } from 'node:worker_threads';
    const { serveCommands } = await import(${JSON.stringify(commandsUrl)});
    let n = 0;
    const { maxResultBytes, custom } = workerData.options;
    const unsendable = custom ? (r, why) => ({ kind: 'crash', message: 'custom: ' + why, fuel: r.fuel }) : undefined;
    await serveCommands(workerData.sab, async (task) => {
      if (workerData.delayMs) await new Promise((r) => setTimeout(r, workerData.delayMs));
      if (task?.op === 'fn') return () => 1;
      if (task?.op === 'fn-used') return { kind: 'ok', value: () => 1, us: 5, thread: 9, fuel: 1234, memory: 65536 };
      if (task?.op === 'big') return { big: 'y'.repeat(task.bytes), n: ++n };
      return { echo: task, n: ++n };
    }, { maxResultBytes, unsendable });
    parentPort.postMessage('stopped');`;
  return new Worker(code, { eval: true, workerData: { sab, delayMs, options } });
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

  it('keeps the usage figures of a result it cannot carry, and lets the worker say what to send', async () => {
    const plain = new CommandSender(createCommandBuffer(4096));
    const w1 = worker(plain.sab);
    const custom = new CommandSender(createCommandBuffer(4096));
    const w2 = worker(custom.sab, 0, { custom: true });
    try {
      expect(await plain.send({ op: 'fn-used' })).toEqual({
        kind: 'crash',
        message: expect.stringMatching(/cannot encode a function/),
        us: 5,
        thread: 9,
        fuel: 1234,
        memory: 65536,
      });
      expect(await custom.send({ op: 'fn-used' })).toEqual({
        kind: 'crash',
        message: expect.stringMatching(/^custom: the result cannot be returned: .*function/),
        fuel: 1234,
      });
    } finally {
      await Promise.all([w1.terminate(), w2.terminate()]);
    }
  });

  it('carries tasks and results larger than its buffer in chunks, both ways, and goes on after', async () => {
    const sender = new CommandSender(createCommandBuffer(4096));
    const w = worker(sender.sab);
    try {
      // A task of ~40 chunks, echoed back: ~40 chunks each way.
      const task = { op: 'echo', text: 'é'.repeat(80_000), bytes: new Uint8Array(20_000).fill(7) };
      const echoed = (await sender.send(task)) as { echo: typeof task; n: number };
      expect(echoed.n).toBe(1);
      expect(echoed.echo.text).toBe(task.text);
      expect(echoed.echo.bytes).toEqual(task.bytes);
      // A small task with a large result; one that fills the buffer exactly, and one byte more.
      const overhead = encodeToBytes({ big: '', n: 2 }).length;
      expect(encodeToBytes({ big: 'y'.repeat(4096 - overhead), n: 3 }).length).toBe(4096);
      for (const [i, bytes] of [100_000, 4096 - overhead, 4097 - overhead].entries()) {
        const r = (await sender.send({ op: 'big', bytes })) as { big: string; n: number };
        expect(r).toEqual({ big: 'y'.repeat(bytes), n: i + 2 });
      }
      // And the one-chunk path still works after them.
      expect(await sender.send({ op: 'small' })).toEqual({ echo: { op: 'small' }, n: 5 });
    } finally {
      await w.terminate();
    }
  });

  // A buffer smaller than the result (chunks) and one larger (a single chunk): the limit holds in both.
  it.each([4096, 1 << 20])(
    "refuses a result over the worker's limit as unsendable, and one over the kernel's after reading it (%i-byte buffer)",
    async (bufferBytes) => {
      // The worker's limit: the result is replaced by a crash (its worker says so).
      const guarded = new CommandSender(createCommandBuffer(bufferBytes));
      const w1 = worker(guarded.sab, 0, { maxResultBytes: 50_000 });
      // The kernel's limit only (a worker that disagrees): the send fails, the channel goes on.
      const strict = new CommandSender(createCommandBuffer(bufferBytes), { maxResultBytes: 50_000 });
      const w2 = worker(strict.sab);
      try {
        expect(await guarded.send({ op: 'big', bytes: 60_000 })).toMatchObject({
          kind: 'crash',
          message: /larger than the 50000-byte command channel limit/,
        });
        expect(await guarded.send({ op: 'big', bytes: 40_000 })).toMatchObject({ n: 2 });
        await expect(strict.send({ op: 'big', bytes: 60_000 })).rejects.toThrow(/over the 50000-byte limit/);
        expect(await strict.send({ op: 'big', bytes: 40_000 })).toMatchObject({ n: 2 });
      } finally {
        await Promise.all([w1.terminate(), w2.terminate()]);
      }
    },
  );

  it('refuses a task over its limit without sending it', async () => {
    const sender = new CommandSender(createCommandBuffer(256), { maxTaskBytes: 10_000 });
    await expect(sender.send('x'.repeat(20_000))).rejects.toThrow(/task is larger than the 10000-byte/);
    const roomy = new CommandSender(createCommandBuffer(1 << 20), { maxTaskBytes: 10_000 });
    await expect(roomy.send('x'.repeat(20_000))).rejects.toThrow(/task is larger than the 10000-byte/);
    expect(() => new CommandSender(createCommandBuffer(256), { maxResultBytes: 0 })).toThrow(RangeError);
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

  it('stops a chunked transfer when the worker is stopped midway', async () => {
    const sender = new CommandSender(createCommandBuffer(256));
    // No worker serves this buffer: the first chunk waits for it, and stop ends the wait.
    const inFlight = sender.send('x'.repeat(10_000));
    sender.stop();
    await expect(inFlight).rejects.toThrow(/the worker was stopped/);
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
