import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { packageRoot } from '../base/paths.js';
import { createChannel, Status, serveChannel } from './channel.js';

// The worker side runs the compiled client (a worker cannot load TypeScript).
const clientUrl = pathToFileURL(join(packageRoot(), 'dist', 'kernel', 'bridge', 'channel.js')).href;

function worker(sab: SharedArrayBuffer, calls: [number, unknown[]][]): Promise<unknown[]> {
  const code = `
    import { workerData, parentPort } from 'node:worker_threads';
    const { HostcallClient } = await import(${JSON.stringify(clientUrl)});
    const client = new HostcallClient({ sab: workerData.sab });
    parentPort.postMessage(workerData.calls.map(([fn, args]) => client.call(fn, args)));`;
  const w = new Worker(code, { eval: true, workerData: { sab, calls } });
  return new Promise((resolve, reject) => {
    w.once('message', (m) => {
      void w.terminate();
      resolve(m as unknown[]);
    });
    w.once('error', reject);
  });
}

let stop: (() => void) | undefined;
afterEach(() => stop?.());

describe('hostcall channel', () => {
  it('carries calls from a worker and answers each synchronously, in order', async () => {
    const ch = createChannel(1024);
    const seen: [number, unknown[]][] = [];
    const results: number[] = [];
    ({ stop } = serveChannel(
      ch,
      (fn, args) => {
        seen.push([fn, args]);
        if (fn === 2) return { status: Status.GuestError, value: { tag: 'denied', val: 'no' } };
        if (fn === 3) throw new Error('boom');
        return { status: Status.Ok, value: { echo: args, big: 2n ** 63n } };
      },
      (bytes, status) => results.push(status * 1000 + bytes.length),
    ));
    const out = await worker(ch.sab, [
      [1, ['a', 1n]],
      [2, []],
      [3, []],
    ]);
    expect(seen).toEqual([
      [1, ['a', 1n]],
      [2, []],
      [3, []],
    ]);
    expect(out[0]).toEqual({ status: Status.Ok, value: { echo: ['a', 1n], big: 2n ** 63n } });
    expect(out[1]).toEqual({ status: Status.GuestError, value: { tag: 'denied', val: 'no' } });
    expect(out[2]).toEqual({ status: Status.Fault, value: 'kernel fault: boom' });
    expect(results).toHaveLength(3);
  });

  it('refuses arguments larger than the channel with quota-exceeded, without calling the kernel', async () => {
    const ch = createChannel(256);
    let called = 0;
    ({ stop } = serveChannel(ch, () => {
      called++;
      return { status: Status.Ok, value: null };
    }));
    const [r] = await worker(ch.sab, [[1, ['x'.repeat(1000)]]]);
    expect(r).toMatchObject({ status: Status.GuestError, value: { tag: 'quota-exceeded' } });
    expect(called).toBe(0);
  });

  it('turns a result too large for the channel into quota-exceeded', async () => {
    const ch = createChannel(256);
    ({ stop } = serveChannel(ch, () => ({ status: Status.Ok, value: 'y'.repeat(1000) })));
    const [r] = await worker(ch.sab, [[1, []]]);
    expect(r).toMatchObject({ status: Status.GuestError, value: { tag: 'quota-exceeded' } });
  });
});
