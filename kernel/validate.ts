/**
 * Checks on what embedders hand the kernel, each failing with a coded error: messages (their
 * kind, a body that is JSON and survives the trip, its size).
 *
 * @example
 * const text = validateMessage('text', { hi: 1 }, 1 << 20);   // '{"hi":1}'
 */

import { Buffer } from 'node:buffer';
import { AgentOSError } from './errors.js';
import { jsonText } from './json.js';

/** Longest message kind. */
export const MAX_KIND = 128;

/** The kinds only a skill takes (its tool calls); an agent takes every other kind. */
export const TOOL_KINDS: ReadonlySet<string> = new Set(['tool.invoke', 'tool.describe']);

/** Whether an agent's mailbox takes a message of this kind (the bus checks the same). */
export const agentKind = (kind: string): boolean =>
  kind !== '' && kind.length <= MAX_KIND && !TOOL_KINDS.has(kind);

/**
 * Validates a message and returns its body as JSON text. A body that JSON would change (NaN,
 * ±Infinity, a lone surrogate) or nests deeper than MAX_JSON_DEPTH is refused.
 * @throws AgentOSError AOS_E_BAD_MESSAGE or AOS_E_MESSAGE_TOO_LARGE
 */
export function validateMessage(kind: unknown, body: unknown, maxBytes: number): string {
  if (typeof kind !== 'string' || kind === '' || kind.length > MAX_KIND) {
    throw new AgentOSError('AOS_E_BAD_MESSAGE', `message kind must be a string of 1..${MAX_KIND} characters`);
  }
  const text = jsonText(body, 'message body', 'AOS_E_BAD_MESSAGE');
  const size = Buffer.byteLength(text, 'utf8');
  if (size > maxBytes) {
    throw new AgentOSError(
      'AOS_E_MESSAGE_TOO_LARGE',
      `message body is ${size} bytes of JSON; the limit is ${maxBytes}`,
      {
        size,
        limit: maxBytes,
      },
    );
  }
  return text;
}
