/**
 * `agentos:kernel/clock`: time from the kernel's clock (system or manual). Reads are journaled,
 * so a replay returns the recorded times; the monotonic clock never goes back for an agent.
 *
 * @example
 * // guest
 * import { now } from 'agentos:kernel/clock@0.1.0';
 * const ms = now(); // bigint
 */
import { type CallContext, defineCapability } from '../../kernel/capability.js';
import { rejectScope } from '../scope.js';

interface ClockView {
  lastMonotonic: bigint;
}

export const clock = defineCapability<ClockView>({
  name: 'clock',
  configure: (agent, grant) => {
    rejectScope(grant, agent.id);
    return { lastMonotonic: 0n };
  },
  functions: {
    now: (ctx: CallContext<ClockView>) => ctx.services.clock.now(),
    monotonic: (ctx: CallContext<ClockView>) => {
      const t = ctx.services.clock.monotonic();
      if (t > ctx.view.lastMonotonic) ctx.view.lastMonotonic = t;
      return ctx.view.lastMonotonic;
    },
  },
});
