/**
 * Checks on what embedders hand the kernel, each failing with a coded error: messages (their
 * kind, a body that is JSON and survives the trip, its size) and the plain arguments of the API.
 *
 * @example
 * const text = validateMessage('text', { hi: 1 }, 1 << 20);   // '{"hi":1}'
 * checkWhole(options.from, 'from');                          // AOS_E_BAD_ARGUMENT unless a whole number
 */

import { Buffer } from 'node:buffer';
import { AgentOSError } from './errors.js';
import { jsonText } from './json.js';

/** Longest message kind. */
export const MAX_KIND = 128;

/** The kinds only a skill takes (its tool calls); an agent takes every other kind. */
export const TOOL_KINDS: ReadonlySet<string> = new Set(['tool.invoke', 'tool.describe']);

/** Whether `kind` is a message kind at all: a string of 1..MAX_KIND characters. */
export const isKind = (kind: unknown): kind is string =>
  typeof kind === 'string' && kind !== '' && kind.length <= MAX_KIND;

/** Whether an agent's mailbox takes a message of this kind (the bus checks the same). */
export const agentKind = (kind: string): boolean => isKind(kind) && !TOOL_KINDS.has(kind);

/**
 * Throws unless `kind` is a message kind. The embedder's messages and the guests' sends (the
 * bus) are held to this one rule.
 * @throws AgentOSError AOS_E_BAD_MESSAGE
 */
export function checkKind(kind: unknown): asserts kind is string {
  if (!isKind(kind))
    throw new AgentOSError('AOS_E_BAD_MESSAGE', `message kind must be a string of 1..${MAX_KIND} characters`);
}

/**
 * Throws when a message body (its JSON text) is over `maxBytes` in UTF-8: the embedder's
 * messages and the guests' sends have the same limit.
 * @throws AgentOSError AOS_E_MESSAGE_TOO_LARGE
 */
export function checkBodySize(text: string, maxBytes: number): void {
  const size = Buffer.byteLength(text, 'utf8');
  if (size > maxBytes)
    throw new AgentOSError(
      'AOS_E_MESSAGE_TOO_LARGE',
      `message body is ${size} bytes of JSON; the limit is ${maxBytes}`,
      { size, limit: maxBytes },
    );
}

/**
 * Validates a message and returns its body as JSON text. A body that JSON would change (NaN,
 * ±Infinity, a lone surrogate) or nests deeper than MAX_JSON_DEPTH is refused.
 * @throws AgentOSError AOS_E_BAD_MESSAGE or AOS_E_MESSAGE_TOO_LARGE
 */
export function validateMessage(kind: unknown, body: unknown, maxBytes: number): string {
  checkKind(kind);
  const text = jsonText(body, 'message body', 'AOS_E_BAD_MESSAGE');
  checkBodySize(text, maxBytes);
  return text;
}

/** How a bad argument is shown in an error: strings quoted, numbers as they are, objects by kind. */
export function shown(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'bigint') return `${v}n`;
  if (v === null || (typeof v !== 'object' && typeof v !== 'function')) return String(v);
  return Array.isArray(v) ? 'an array' : `a ${typeof v}`;
}

/**
 * Throws AOS_E_BAD_ARGUMENT unless `v` is a non-empty string (an agent id).
 * @example checkAgentId(id, 'requeue: the agent id')
 */
export function checkAgentId(v: unknown, what = 'the agent id'): asserts v is string {
  if (typeof v !== 'string' || v === '')
    throw new AgentOSError('AOS_E_BAD_ARGUMENT', `${what} must be a non-empty string, got ${shown(v)}`);
}

/**
 * Throws AOS_E_BAD_ARGUMENT unless `v` is a whole number (an integer from 0 to 2^53 - 1).
 * @example checkWhole(messageId, 'messageId')
 */
export function checkWhole(v: unknown, what: string): asserts v is number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
    throw new AgentOSError('AOS_E_BAD_ARGUMENT', `${what} must be a whole number, got ${shown(v)}`);
}

/**
 * Throws AOS_E_BAD_ARGUMENT unless `options` is an object and its `key`, when given, a
 * non-empty path. @example checkPathOption(options, 'file', 'export')
 */
export function checkPathOption(options: unknown, key: string, op: string): void {
  if (typeof options !== 'object' || options === null)
    throw new AgentOSError('AOS_E_BAD_ARGUMENT', `${op} options must be an object`);
  const v = (options as Record<string, unknown>)[key];
  if (v !== undefined && (typeof v !== 'string' || v === ''))
    throw new AgentOSError('AOS_E_BAD_ARGUMENT', `${key} must be a non-empty path`);
}
