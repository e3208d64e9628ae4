import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Kernel } from '../index.js';
import { tempHome } from '../testing/harness.js';
import type { KernelOptions } from './api.js';
import { resolveOptions } from './options.js';

describe('kernel options', () => {
  it('refuses each bad option with AOS_E_BAD_CONFIG naming it, and opens nothing', async () => {
    const home = tempHome();
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ maxMessageBytes: -5 }, /^maxMessageBytes must be a positive whole number of bytes, got -5$/],
      [{ maxMessageBytes: 1.5 }, /^maxMessageBytes must be/],
      [{ maxMessageBytes: '1000' }, /^maxMessageBytes must be .* got "1000"$/],
      [{ closeTimeoutMs: -1 }, /^closeTimeoutMs must be 0 or more milliseconds, got -1$/],
      [{ closeTimeoutMs: Number.NaN }, /^closeTimeoutMs must be/],
      [{ mailboxes: 'disk' }, /^mailboxes must be "durable" or "memory", got "disk"$/],
      [{ cacheDir: 42 }, /^cacheDir must be a non-empty path, got 42$/],
      [{ cacheDir: '' }, /^cacheDir must be a non-empty path, got ""$/],
      [{ onProgress: 'stderr' }, /^onProgress must be a function, got "stderr"$/],
      [{ deliver: 'yes' }, /^deliver must be true or false/],
      [{ clock: { now: () => 0n } }, /^clock must be a Clock/],
      [{ logger: console.log }, /^logger must be a pino logger/],
      [{ delivery: 3 }, /^delivery must be an object, got 3$/],
      [{ delivery: { attempt: 2 } }, /^delivery has no option "attempt"/],
      [{ spares: -1 }, /^spares must be an integer from 0 to 8, got -1$/],
      [{ spares: 1.5 }, /^spares must be an integer from 0 to 8, got 1.5$/],
      [{ spares: 9 }, /^spares must be/],
      [{ spares: '1' }, /^spares must be .* got "1"$/],
      [{ workrs: 4 }, /^the kernel has no option "workrs" \(known: home, cpus, /],
    ];
    for (const [options, re] of cases) {
      const e = await Kernel.open({ home, workers: 1, ...(options as KernelOptions) }).catch(
        (err: unknown) => err,
      );
      expect(e, JSON.stringify(options)).toMatchObject({ code: 'AOS_E_BAD_CONFIG' });
      expect((e as Error).message).toMatch(re);
      // Refused before the data dir was opened: nothing was written there.
      expect(readdirSync(home)).toEqual([]);
    }
    // home is checked too (before it is created or opened).
    const e = await Kernel.open({ home: 7 as unknown as string }).catch((err: unknown) => err);
    expect(e).toMatchObject({ code: 'AOS_E_BAD_CONFIG', message: 'home must be a non-empty path, got 7' });
    expect(readdirSync(join(home))).toEqual([]);
  });

  it('checks logLevel against the levels pino knows', () => {
    expect(() => resolveOptions({ logLevel: 'loud' })).toThrow(
      expect.objectContaining({
        code: 'AOS_E_BAD_CONFIG',
        message: expect.stringMatching(/^logLevel must be one of fatal, error/),
      }),
    );
    expect(
      resolveOptions({ logLevel: 'silent', closeTimeoutMs: 0, maxMessageBytes: 1 }).workers,
    ).toBeGreaterThan(0);
  });
});
