import { copyFileSync, readFileSync, renameSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture, openKernel, tempHome } from '../../testing/harness.js';
import type { Kernel } from '../kernel.js';
import { PathDigests, statOf } from './path-digests.js';

describe('path digests', () => {
  it('knows a file while it is unchanged, and not after any change, even one that keeps size and mtime', () => {
    const dir = tempHome();
    const path = join(dir, 'a.wasm');
    writeFileSync(path, 'aaaa');
    const digests = new PathDigests(0n);
    digests.remember(path, statOf(path), 'digest-a');
    expect(digests.known(path, statOf(path))).toBe('digest-a');
    // Rewritten in place, same size, its mtime set back: the change time still moves.
    const { atime, mtime } = statSync(path);
    writeFileSync(path, 'bbbb');
    utimesSync(path, atime, mtime);
    expect(digests.known(path, statOf(path))).toBeNull();
    digests.remember(path, statOf(path), 'digest-b');
    // Replaced by a rename: another inode.
    writeFileSync(join(dir, 'b.wasm'), 'bbbb');
    renameSync(join(dir, 'b.wasm'), path);
    expect(digests.known(path, statOf(path))).toBeNull();
    expect(digests.known(join(dir, 'missing.wasm'), statOf(join(dir, 'missing.wasm')))).toBeNull();
  });

  it('does not remember a file that changed while it was read, or one changed too recently to trust', () => {
    const dir = tempHome();
    const path = join(dir, 'a.wasm');
    writeFileSync(path, 'aaaa');
    const before = statOf(path);
    writeFileSync(path, 'aaaaaa'); // changed between the stat and the read
    const digests = new PathDigests(0n);
    digests.remember(path, before, 'digest-a');
    expect(digests.known(path, before)).toBeNull();
    const fresh = new PathDigests(); // the two-second rule: just written, not remembered
    fresh.remember(path, statOf(path), 'digest-a');
    expect(fresh.known(path, statOf(path))).toBeNull();
  });
});

describe('spawn by path', () => {
  let kernel: Kernel;
  beforeAll(async () => {
    kernel = await openKernel();
  }, 120_000);
  afterAll(() => kernel.close());

  it('spawns what the file holds now: an old file by its digest, a replaced one anew', async () => {
    const dir = tempHome();
    const path = join(dir, 'agent.wasm');
    copyFileSync(await fixture('echo-wat'), path);
    // Older than the two-second rule, so the kernel remembers it once read.
    await new Promise((r) => setTimeout(r, 2100));
    const first = kernel.inspect(await kernel.spawn(path)).digest;
    expect(kernel.inspect(await kernel.spawn(path)).digest).toBe(first);
    // Replaced in place by another component, its mtime set back.
    const { atime, mtime } = statSync(path);
    writeFileSync(path, readFileSync(await fixture('sender-wat')));
    utimesSync(path, atime, mtime);
    const second = kernel.inspect(await kernel.spawn(path, { grants: ['ipc'] })).digest;
    expect(second).not.toBe(first);
  }, 60_000);
});
