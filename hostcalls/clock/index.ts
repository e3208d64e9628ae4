/**
 * `agentos:kernel/clock`: time from the kernel's clock (system or manual). Reads are journaled
 * so that a replay (to come) can answer with the recorded times. The monotonic clock never goes back for an agent, even
 * across kernel restarts: the last value read is saved with the agent, and a restarted kernel
 * continues from it (its own monotonic origin is new).
 *
 * @example
 * // guest
 * import { now } from 'agentos:kernel/clock@0.1.0';
 * const ms = now(); // bigint
 * sleep(250);         // waits 250 ms of kernel time; other agents get the CPU
 */
import { type CallContext, defineCapability, rejectScope } from '../../kernel/sdk/index.js';

interface ClockView {
  /** Added to the kernel's monotonic reading, so this agent's clock continues where it stopped. */
  offset: bigint;
  last: bigint;
}

type Ctx = CallContext<ClockView, 'clock'>;

export const clock = defineCapability<ClockView, undefined, 'clock'>({
  name: 'clock',
  needs: ['clock'],
  configure: (agent, grant, _shared, services) => {
    rejectScope(grant, agent.id);
    const saved = agent.capState.clock;
    const last = typeof saved === 'string' ? BigInt(saved) : 0n;
    const current = services.clock.monotonic();
    return { offset: last > current ? last - current : 0n, last };
  },
  persist: (view) => view.last.toString(),
  functions: {
    now: (ctx: Ctx) => ctx.services.clock.now(),
    monotonic: (ctx: Ctx) => {
      const t = ctx.services.clock.monotonic() + ctx.view.offset;
      if (t > ctx.view.last) ctx.view.last = t;
      return ctx.view.last;
    },
    // Async: the dispatcher releases the caller's CPU permit until it resolves.
    sleep: (ctx: Ctx, ms: number) => ctx.services.clock.sleep(ms),
  },
});
