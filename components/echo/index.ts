/**
 * echo: replies with the message body it received, and nothing else (the kernel's trivial
 * invocation). Imports `log` only, to say it started.
 *
 *   agentos run components/dist/echo.wasm --grant log --message '{"text":"hi"}'   # {"text":"hi"}
 */
import { write } from 'agentos:kernel/log';
import type { Message } from 'agentos:kernel/types';

export function init(config: string): void {
  write('info', 'echo ready', config);
}

export function handle(message: Message): string {
  return message.body;
}
