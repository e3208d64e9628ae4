/**
 * What the durable acknowledgement costs: `kernel.send` resolving once the invocation's unit
 * (outcome, ack, effects, records) is on disk (durability `strict`, the default), beside the same
 * kernel answering as soon as the handler returns (`relaxed`, the behaviour before), measured
 * in the same run, interleaved:
 * - one caller, one message at a time (the latency added to an acknowledgement);
 * - 32 callers at once (group commit: many invocations share one LMDB transaction).
 */
import { Kernel } from '../index.js';
import { fixture, TEST_CACHE_DIR, tempHome } from '../testing/harness.js';
import { devTrust } from '../toolchain/dev-key.js';
import { type Figure, figure, percentiles, timeEach } from './measure.js';

type Mode = 'strict' | 'relaxed';

async function kernelWithEcho(durability: Mode): Promise<{ kernel: Kernel; echo: string }> {
  const kernel = await Kernel.open({
    home: tempHome(),
    cacheDir: TEST_CACHE_DIR,
    logLevel: 'silent',
    policy: { trust: devTrust() },
    durability,
  });
  const echo = await kernel.spawn(await fixture('echo-wat'), { limits: { mailbox: 100_000 } });
  return { kernel, echo };
}

/** Acknowledged messages per second from `lanes` callers, each sending one after the other. */
async function lanes(k: { kernel: Kernel; echo: string }, lanes: number, each: number): Promise<number> {
  const t0 = performance.now();
  await Promise.all(
    [...Array(lanes).keys()].map(async () => {
      for (let i = 0; i < each; i++) await k.kernel.send(k.echo, 'x');
    }),
  );
  return (lanes * each) / ((performance.now() - t0) / 1000);
}

export async function durabilityFigures(log: (s: string) => void): Promise<Figure[]> {
  const strict = await kernelWithEcho('strict');
  const relaxed = await kernelWithEcho('relaxed');
  try {
    const one: Record<Mode, number[]> = { strict: [], relaxed: [] };
    const many: Record<Mode, number[]> = { strict: [], relaxed: [] };
    for (let round = 0; round < 5; round++) {
      for (const [mode, k] of [
        ['strict', strict],
        ['relaxed', relaxed],
      ] as const) {
        one[mode].push(...(await timeEach(300, 50, () => k.kernel.send(k.echo, 'x'))));
        many[mode].push(await lanes(k, 32, 100));
      }
    }
    const p = { strict: percentiles(one.strict), relaxed: percentiles(one.relaxed) };
    const rate = (mode: Mode): number => percentiles(many[mode]).p50;
    log(
      `acknowledged send, one caller: strict p50 ${p.strict.p50.toFixed(0)} p99 ${p.strict.p99.toFixed(0)} µs; ` +
        `relaxed p50 ${p.relaxed.p50.toFixed(0)} p99 ${p.relaxed.p99.toFixed(0)} µs; 32 callers: strict ` +
        `${Math.round(rate('strict'))} msg/s, relaxed ${Math.round(rate('relaxed'))} msg/s`,
    );
    const relaxedName = (what: string): string =>
      `the same, durability relaxed (answered when the handler returns, as before), ${what}`;
    return [
      figure(
        'acknowledged send, one caller: kernel.send (wasm echo) until its outcome is on disk, p50',
        p.strict.p50,
        'µs',
        relaxedName('p50'),
        p.relaxed.p50,
      ),
      figure(
        'acknowledged send, one caller: kernel.send (wasm echo) until its outcome is on disk, p99',
        p.strict.p99,
        'µs',
        relaxedName('p99'),
        p.relaxed.p99,
      ),
      figure(
        'acknowledged sends, 32 callers at once (group commit), each answered once on disk',
        rate('strict'),
        'msg/s',
        relaxedName('32 callers'),
        rate('relaxed'),
      ),
    ];
  } finally {
    await strict.kernel.close();
    await relaxed.kernel.close();
  }
}
