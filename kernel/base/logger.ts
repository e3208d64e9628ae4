/**
 * The kernel's logger: pino, to stderr, so stdout stays free for results (`agentos run` prints
 * the outcome there). Hostcall spans are logged at `debug`.
 */
import pino, { type Logger } from 'pino';

export function createLogger(level: string): Logger {
  return pino(
    { level, base: { pid: undefined, hostname: undefined } },
    pino.destination({ fd: 2, sync: false }),
  );
}
