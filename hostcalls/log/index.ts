/**
 * `agentos:kernel/log`: a guest's log lines go to the kernel's logger (tagged with the agent)
 * and, like every hostcall, into the agent's journal.
 *
 * @example
 * // guest
 * import { write } from 'agentos:kernel/log@0.1.0';
 * write('info', 'started', '{"items":3}');
 */
import { type CallContext, defineCapability, rejectScope, workerModule } from '../../kernel/sdk/index.js';

/** Longest message kept; the rest is cut (and the cut noted). */
export const MAX_LOG_MESSAGE = 8192;

type Level = 'trace' | 'debug' | 'info' | 'warn' | 'error';

type Ctx = CallContext<null, 'logger'>;

function write(ctx: Ctx, level: Level, message: string, fields: string): void {
  const logger = ctx.services.logger;
  if (!logger.isLevelEnabled(level)) return;
  let extra: Record<string, unknown> = {};
  if (fields !== '') {
    try {
      const parsed: unknown = JSON.parse(fields);
      extra =
        typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
          ? { fields: parsed }
          : { fields };
    } catch {
      extra = { fields };
    }
  }
  const text = message.length > MAX_LOG_MESSAGE ? `${message.slice(0, MAX_LOG_MESSAGE)}… (cut)` : message;
  logger[level]({ agent: ctx.agent.id, source: 'guest', ...extra }, text);
}

export const log = defineCapability<null, undefined, 'logger'>({
  overRate: 'drop',
  name: 'log',
  needs: ['logger'],
  configure: (agent, grant) => {
    rejectScope(grant, agent.id);
    return null;
  },
  functions: { write },
  // A log line has no answer: the worker posts it and the guest goes on (local.ts).
  worker: workerModule(import.meta.url, './local.js'),
  posted: {
    write: (ctx: Ctx, _result: unknown, level: Level, message: string, fields: string) =>
      write(ctx, level, message, fields),
  },
});
