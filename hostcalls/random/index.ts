/**
 * `agentos:kernel/random`: a per-agent generator, seeded at spawn and persisted with the agent,
 * so the same seed and call order give the same numbers (and a restart continues the sequence).
 * SplitMix64 in counter mode: value n = mix(seed + (n + 1) · γ); its state is one counter.
 *
 * @example
 * // guest
 * import { nextU64 } from 'agentos:kernel/random@0.1.0';
 * const r = nextU64(); // bigint
 */
import { type CallContext, defineCapability, GuestError, rejectScope } from '../../kernel/sdk/index.js';

/** Largest `bytes(len)` request. */
export const MAX_RANDOM_BYTES = 65536;

const MASK = (1n << 64n) - 1n;
const GAMMA = 0x9e3779b97f4a7c15n;

/** The SplitMix64 finaliser. */
export function mix64(z0: bigint): bigint {
  let z = z0 & MASK;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK;
  return z ^ (z >> 31n);
}

interface RandomView {
  seed: bigint;
  counter: bigint;
}

function next(view: RandomView): bigint {
  view.counter += 1n;
  return mix64(view.seed + view.counter * GAMMA);
}

export const random = defineCapability<RandomView>({
  name: 'random',
  configure: (agent, grant) => {
    rejectScope(grant, agent.id);
    const saved = agent.capState.random;
    return { seed: BigInt(agent.seed), counter: typeof saved === 'string' ? BigInt(saved) : 0n };
  },
  persist: (view) => view.counter.toString(),
  functions: {
    'next-u64': (ctx: CallContext<RandomView>) => next(ctx.view),
    bytes: (ctx: CallContext<RandomView>, len: number) => {
      if (len > MAX_RANDOM_BYTES) {
        throw new GuestError('invalid', `random.bytes: ${len} bytes asked, at most ${MAX_RANDOM_BYTES}`);
      }
      const out = new Uint8Array(len);
      const view = new DataView(out.buffer);
      let i = 0;
      for (; i + 8 <= len; i += 8) view.setBigUint64(i, next(ctx.view), true);
      if (i < len) {
        let v = next(ctx.view);
        for (; i < len; i++, v >>= 8n) out[i] = Number(v & 0xffn);
      }
      return out;
    },
  },
});
