import { describe, expect, it } from 'vitest';
import { tempHome } from '../../testing/harness.js';
import { type Checkpoint, Checkpoints, KEEP } from './checkpoints.js';
import { Store } from './store.js';

const checkpoint = (seq: number, size: number): Checkpoint => ({
  seq,
  digest: 'd',
  build: 'b',
  grants: [],
  bytes: new Uint8Array(size),
  at: 1000 + seq,
});

describe('checkpoints', () => {
  it('summarises what is kept without reading states, the same as what is on disk', async () => {
    const home = tempHome();
    const store = await Store.open(home);
    try {
      const cps = new Checkpoints(store);
      // Three before any flush: the newest KEEP stay, in order.
      for (const [seq, size] of [
        [10, 100],
        [20, 200],
        [30, 300],
      ] as const)
        cps.put('a', checkpoint(seq, size));
      const want = [
        { seq: 20, at: 1020, bytes: 200 },
        { seq: 30, at: 1030, bytes: 300 },
      ];
      expect(KEEP).toBe(2);
      expect(cps.summary('a')).toEqual(want);
      expect(cps.bytes('a')).toBe(500);
      await store.flushed();
      // A reader that knows nothing yet reads the same from disk.
      expect(new Checkpoints(store).summary('a')).toEqual(want);
      expect(cps.all('a').map((c) => c.seq)).toEqual([20, 30]);
      cps.forget('a');
      expect(cps.summary('a')).toEqual([]);
      await store.flushed();
      expect(new Checkpoints(store).summary('a')).toEqual([]);
      expect(cps.summary('a')).toEqual([]);
      cps.put('a', checkpoint(40, 10)); // after a forget: kept again
      expect(cps.summary('a')).toEqual([{ seq: 40, at: 1040, bytes: 10 }]);
    } finally {
      await store.close();
    }
  });
});
