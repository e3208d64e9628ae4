/**
 * The raw baselines the kernel is measured against, in the same run:
 * - a bare jco instance of the same component, called directly on the main thread;
 * - a bare SharedArrayBuffer + Atomics round trip between a worker and the main thread.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { transpile } from '@bytecodealliance/jco';
import { TRANSPILE_OPTIONS } from '../kernel/loader/loader.js';
import { tempHome } from '../testing/harness.js';

type Exports = Record<string, (...args: unknown[]) => unknown>;
interface Glue {
  instantiate(
    get: (n: string) => WebAssembly.Module,
    imports: Record<string, Record<string, unknown>>,
  ): Exports;
}

/**
 * The component transpiled by jco alone, into a fresh temp dir: glue and core modules exactly as
 * jco emits them, not metered. The bare baselines run these.
 */
export async function plainDir(bytes: Uint8Array): Promise<string> {
  const dir = tempHome('agentos-bench-plain-');
  const out = await transpile(bytes, { ...TRANSPILE_OPTIONS });
  for (const [name, content] of Object.entries(out.files)) {
    if (name === 'component.js') writeFileSync(join(dir, 'component.mjs'), content);
    else if (name.endsWith('.wasm')) writeFileSync(join(dir, name), content);
  }
  return dir;
}

/** Instantiates plain transpiled glue (see plainDir) on the main thread with no-op host functions. */
export async function bareInstance(dir: string): Promise<{ exports: Exports; instantiate: () => Exports }> {
  const modules: Record<string, WebAssembly.Module> = {};
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.wasm'))) {
    modules[f] = await WebAssembly.compile(readFileSync(join(dir, f)));
  }
  const glue = (await import(pathToFileURL(join(dir, 'component.mjs')).href)) as Glue;
  const log = { write: () => {} };
  const wm = { get: () => undefined, set: () => {}, delete: () => false, list: () => [] };
  const imports = { 'agentos:kernel/log': log, 'agentos:kernel/working-memory': wm };
  const instantiate = (): Exports => glue.instantiate((n) => modules[n]!, imports);
  return { exports: instantiate(), instantiate };
}

/**
 * Mean microseconds of a bare Atomics round trip from a worker: the worker writes a small
 * request, wakes the main thread (which waits with Atomics.waitAsync, as the kernel does),
 * and blocks until the main thread echoes it back. Measured inside the worker, over `n` calls.
 */
export async function bareAtomicsRoundTrip(
  n: number,
): Promise<{ meanUs: number; p50Us: number; p99Us: number }> {
  const sab = new SharedArrayBuffer(64 + 4096);
  const ctrl = new Int32Array(sab, 0, 16);
  const data = new Uint8Array(sab, 64);
  const code = `
    import { workerData, parentPort } from 'node:worker_threads';
    const { sab, n } = workerData;
    const ctrl = new Int32Array(sab, 0, 16);
    const data = new Uint8Array(sab, 64);
    const enc = new TextEncoder();
    const call = () => {
      ctrl[2] = enc.encodeInto('x', data).written;
      Atomics.store(ctrl, 0, 1);
      Atomics.notify(ctrl, 0);
      while (Atomics.load(ctrl, 0) === 1) Atomics.wait(ctrl, 0, 1);
      const copy = data.slice(0, ctrl[2]);
      Atomics.store(ctrl, 0, 0);
      return copy;
    };
    for (let i = 0; i < 2000; i++) call();
    const per = new Float64Array(n);
    const t0 = performance.now();
    for (let i = 0; i < n; i++) { const s = performance.now(); call(); per[i] = (performance.now() - s) * 1000; }
    const total = (performance.now() - t0) * 1000;
    Atomics.store(ctrl, 0, 3); Atomics.notify(ctrl, 0);
    per.sort();
    parentPort.postMessage({ meanUs: total / n, p50Us: per[Math.floor(n / 2)], p99Us: per[Math.floor(n * 0.99)] });`;
  const worker = new Worker(code, { eval: true, workerData: { sab, n } });
  let done = false;
  const serve = async (): Promise<void> => {
    while (!done) {
      const s = Atomics.load(ctrl, 0);
      if (s === 1) {
        const req = data.slice(0, ctrl[2]);
        data.set(req);
        Atomics.store(ctrl, 0, 2);
        Atomics.notify(ctrl, 0);
        continue;
      }
      if (s === 3) return;
      const w = Atomics.waitAsync(ctrl, 0, s);
      if (w.async) await w.value;
    }
  };
  void serve();
  const result = await new Promise<{ meanUs: number; p50Us: number; p99Us: number }>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  done = true;
  await worker.terminate();
  return result;
}
