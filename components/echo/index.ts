/**
 * echo: replies with the message body it received. Imports `log` only.
 *
 *   agentos run components/dist/echo.wasm --grant log --message '{"text":"hi"}'   # {"text":"hi"}
 */
import { write } from 'agentos:kernel/log';

interface Message {
  id: bigint;
  kind: string;
  sender?: string;
  body: string;
  sentAt: bigint;
}

let prefix = '';

export function init(config: string): void {
  const c = JSON.parse(config) as { prefix?: unknown };
  if (typeof c.prefix === 'string') prefix = c.prefix;
}

export function handle(message: Message): string {
  write('debug', `${prefix}echo ${message.kind} #${message.id}`, '');
  return message.body;
}
