import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../base/paths.js';
import { decodeValue } from './codec.js';
import {
  createPostRing,
  drainPosts,
  MAX_POSTED_BYTES,
  type PostRing,
  PostWriter,
  watchPosts,
} from './post-ring.js';

// The worker side runs the compiled module (a worker cannot load TypeScript).
const postRingUrl = pathToFileURL(join(packageRoot(), 'dist', 'kernel', 'bridge', 'post-ring.js')).href;

interface Entry {
  fn: number;
  index: number;
  args: unknown[];
  result: unknown;
}

/** Drains `ring`, decoding every entry. */
function drain(ring: PostRing): Entry[] {
  const out: Entry[] = [];
  const n = drainPosts(ring, (fn, index, args, result) => {
    out.push({ fn, index, args: decodeValue(args) as unknown[], result: decodeValue(result) });
  });
  expect(n).toBe(out.length);
  return out;
}

const post = (w: PostWriter, e: Entry): boolean => w.post(e.fn, e.index, e.args, e.result);

/** Deterministic PRNG (mulberry32): integers in [0, n). */
function prng(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

/** 20 + 46 encoded bytes (i32 index, 30-char string, undefined result), aligned to 68: 15 fill 1024 bytes. */
const small = (i: number): Entry => ({ fn: 1, index: i, args: [i, 'y'.repeat(30)], result: undefined });

describe('post ring', () => {
  it('gives back posted calls in order, with their arguments and results intact', () => {
    const ring = createPostRing();
    const w = new PostWriter(ring);
    const entries: Entry[] = [
      { fn: 0, index: 0, args: ['héllo wörld ✓ 日本語 🎉', 42, -1.5], result: undefined },
      {
        fn: 3,
        index: 1,
        args: [2n ** 64n - 1n, -(2n ** 63n), undefined, null, true],
        result: { a: { b: [1, 'two', 3.5] }, c: new Uint8Array([1, 2, 255]) },
      },
      { fn: 7, index: 0x7fffffff, args: [], result: 'ü'.repeat(100) + 'x'.repeat(100) },
      { fn: 2, index: 5, args: [new Uint8Array(0), {}, [[]]], result: 7n },
    ];
    for (const e of entries) expect(post(w, e)).toBe(true);
    const copied: boolean[] = [];
    const out: Entry[] = [];
    const n = drainPosts(ring, (fn, index, args, result) => {
      // Copies out of shared memory (TextDecoder and the journal need plain buffers).
      copied.push(args.buffer instanceof ArrayBuffer && result.buffer instanceof ArrayBuffer);
      out.push({ fn, index, args: decodeValue(args) as unknown[], result: decodeValue(result) });
    });
    expect(n).toBe(4);
    expect(out).toEqual(entries);
    expect(copied).toEqual([true, true, true, true]);
    expect(drainPosts(ring, () => expect.unreachable())).toBe(0);
  });

  it('wraps around a small ring many times without losing, repeating or damaging an entry', () => {
    const ring = createPostRing(1024);
    const w = new PostWriter(ring);
    const rnd = prng(0xc0ffee);
    const sent: Entry[] = [];
    const got: Entry[] = [];
    let full = 0;
    let bytes = 0;
    for (let iter = 0, i = 0; iter < 2000; iter++) {
      const batch = 1 + rnd(12);
      for (let k = 0; k < batch; k++, i++) {
        const text = (rnd(4) === 0 ? 'é' : 'a').repeat(rnd(150));
        const blob = Uint8Array.from({ length: rnd(64) }, () => rnd(256));
        const e: Entry = {
          fn: rnd(20),
          index: i,
          args: [text, blob, i],
          result: rnd(2) ? BigInt(i) : { len: text.length },
        };
        if (!post(w, e)) {
          full++;
          got.push(...drain(ring));
          // Any entry here is < 512 bytes, so it fits an empty ring wherever the head is.
          expect(post(w, e)).toBe(true);
        }
        sent.push(e);
        bytes += 20 + new TextEncoder().encode(text).length + blob.length;
      }
      if (rnd(10) < 7) got.push(...drain(ring));
    }
    got.push(...drain(ring));
    expect(full).toBeGreaterThan(100);
    expect(bytes).toBeGreaterThan(1000 * 1024);
    expect(got.length).toBe(sent.length);
    // isDeepStrictEqual: toEqual over ~13,000 entries takes most of a second.
    const first = got.findIndex((g, k) => !isDeepStrictEqual(g, sent[k]));
    if (first !== -1) expect(got[first]).toEqual(sent[first]);
    expect(first).toBe(-1);
  });

  it('refuses a post into a full ring and keeps every entry it accepted', () => {
    const ring = createPostRing(1024);
    const w = new PostWriter(ring);
    let i = 0;
    for (let round = 0; round < 6; round++) {
      const accepted: Entry[] = [];
      for (;;) {
        const e = small(i++);
        if (!post(w, e)) break;
        accepted.push(e);
      }
      expect(accepted.length).toBe(15);
      expect(drain(ring)).toEqual(accepted);
      expect(drain(ring)).toEqual([]);
    }
    expect(post(w, small(i))).toBe(true);
    expect(drain(ring)).toEqual([small(i)]);
  });

  it('refuses an entry larger than MAX_POSTED_BYTES and writes nothing', () => {
    const ring = createPostRing();
    const w = new PostWriter(ring);
    expect(w.post(1, 0, ['x'.repeat(MAX_POSTED_BYTES)], undefined)).toBe(false);
    expect(w.post(1, 1, [], new Uint8Array(MAX_POSTED_BYTES))).toBe(false);
    // Each part fits alone, both together do not.
    const half = 'z'.repeat(MAX_POSTED_BYTES / 2);
    expect(w.post(1, 2, [half], half)).toBe(false);
    expect(drainPosts(ring, () => expect.unreachable())).toBe(0);
    // A value the codec cannot carry is the caller's error, not a refusal; nothing is written either.
    expect(() => w.post(1, 3, [() => 1], undefined)).toThrow(/cannot encode a function/);
    expect(drainPosts(ring, () => expect.unreachable())).toBe(0);
    expect(w.post(2, 4, ['ok'], 1)).toBe(true);
    expect(drain(ring)).toEqual([{ fn: 2, index: 4, args: ['ok'], result: 1 }]);
  });

  it('reports a throwing handler to onError, applies the rest and frees their room', () => {
    const ring = createPostRing(1024);
    const w = new PostWriter(ring);
    const entries = Array.from({ length: 15 }, (_, i) => small(i));
    for (const e of entries) expect(post(w, e)).toBe(true);
    expect(post(w, small(15))).toBe(false);
    const boom = new Error('boom');
    const applied: number[] = [];
    const errors: unknown[] = [];
    const n = drainPosts(
      ring,
      (_fn, index) => {
        applied.push(index);
        if (index === 4) throw boom;
      },
      (e) => errors.push(e),
    );
    expect(n).toBe(15);
    expect(applied).toEqual(entries.map((e) => e.index));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBe(boom);
    const again = Array.from({ length: 15 }, (_, i) => small(100 + i));
    for (const e of again) expect(post(w, e)).toBe(true);
    expect(drain(ring)).toEqual(again);
  });

  it('closes the ring to the writer when the watch stops', async () => {
    const ring = createPostRing(1024);
    const w = new PostWriter(ring);
    const got: Entry[] = [];
    let watch: { stop(): void } | undefined;
    await new Promise<void>((woke) => {
      watch = watchPosts(ring, () => {
        got.push(...drain(ring));
        woke();
      });
      expect(post(w, small(0))).toBe(true);
    });
    watch?.stop();
    expect(got).toEqual([small(0)]);
    expect(post(w, small(1))).toBe(false);
    expect(drainPosts(ring, () => expect.unreachable())).toBe(0);
  });

  it('carries 20,000 calls from a worker through a ring it keeps filling, in order', async () => {
    const N = 20_000;
    const ring = createPostRing(64 << 10);
    const code = `
      import { workerData, parentPort } from 'node:worker_threads';
      const { PostWriter } = await import(${JSON.stringify(postRingUrl)});
      const w = new PostWriter({ sab: workerData.sab });
      const nap = new Int32Array(new SharedArrayBuffer(4));
      let retries = 0;
      for (let i = 0; i < workerData.n; i++) {
        while (!w.post(i % 7, i, [i, 'x'.repeat(i % 50)], BigInt(i))) {
          if (retries++ === 0) parentPort.postMessage('full');
          Atomics.wait(nap, 0, 0, 1);
        }
      }
      parentPort.postMessage(retries);`;
    const worker = new Worker(code, { eval: true, workerData: { sab: ring.sab, n: N } });
    let next = 0;
    const bad: string[] = [];
    let done = (): void => {};
    const all = new Promise<void>((r) => (done = r));
    const apply = (): void => {
      drainPosts(
        ring,
        (fn, index, args, result) => {
          const i = next++;
          const a = decodeValue(args) as unknown[];
          const r = decodeValue(result);
          if (
            fn !== i % 7 ||
            index !== i ||
            !isDeepStrictEqual(a, [i, 'x'.repeat(i % 50)]) ||
            r !== BigInt(i)
          )
            bad.push(`#${i}: fn ${fn} index ${index} args ${a} result ${r}`);
        },
        (e) => bad.push(String(e)),
      );
      if (next >= N) done();
    };
    let watch: { stop(): void } | undefined;
    try {
      const retries = await new Promise<number>((resolve, reject) => {
        worker.on('message', (m) => {
          // The kernel starts draining only once the ring filled, so the writer surely retried.
          watch ??= watchPosts(ring, apply);
          if (m !== 'full') resolve(m as number);
        });
        worker.once('error', reject);
      });
      // Everything is in the ring by now: the watch must drain it soon (a lost entry fails, not hangs).
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([all, new Promise((r) => (timer = setTimeout(r, 3000)))]);
      clearTimeout(timer);
      expect(retries).toBeGreaterThan(0);
      expect(bad.slice(0, 5)).toEqual([]);
      expect(next).toBe(N);
      expect(drainPosts(ring, () => expect.unreachable())).toBe(0);
    } finally {
      watch?.stop();
      await worker.terminate();
    }
    expect(new PostWriter(ring).post(0, 0, [], undefined)).toBe(false);
  });

  it('never applies an entry twice, even when onError throws', () => {
    const ring = createPostRing(1024);
    const w = new PostWriter(ring);
    for (let i = 0; i < 3; i++) expect(w.post(0, i, [i], undefined)).toBe(true);
    const seen: number[] = [];
    const fail = (_f: number, i: number): void => {
      seen.push(i);
      if (i === 1) throw new Error('bad entry');
    };
    expect(() =>
      drainPosts(ring, fail, () => {
        throw new Error('logger down');
      }),
    ).toThrow('logger down');
    drainPosts(ring, (_f, i) => seen.push(i));
    expect(seen).toEqual([0, 1, 2]);
  });
});
