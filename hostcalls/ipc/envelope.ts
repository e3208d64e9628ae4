/**
 * The `envelope` record as a guest passes it, checked: a kind, a JSON body, a priority, JSON
 * attributes (strings and numbers, for subscription filters) and a TTL.
 */

import { type Envelope, GuestError, type Urgency } from '../../kernel/sdk/index.js';

/** As jco lifts the WIT record. */
export interface WitEnvelope {
  kind: string;
  body: string;
  priority: 'low' | 'normal' | 'high';
  attributes: string;
  ttlMs: number;
}

export type Attributes = Record<string, string | number>;

const URGENCY: Record<WitEnvelope['priority'], Urgency> = { high: 0, normal: 1, low: 2 };

export function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new GuestError('invalid', `${what} is not JSON: ${(e as Error).message}`);
  }
}

/** Checks the envelope; returns what the bus takes and the parsed attributes. */
export function checkEnvelope(e: WitEnvelope): { envelope: Envelope; attributes: Attributes } {
  parseJson(e.body, 'the message body');
  const raw = e.attributes.trim() === '' ? {} : parseJson(e.attributes, 'the attributes');
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new GuestError('invalid', 'the attributes must be a JSON object');
  for (const [k, v] of Object.entries(raw))
    if (typeof v !== 'string' && typeof v !== 'number')
      throw new GuestError('invalid', `attribute ${k} must be a string or a number`);
  return { envelope: toEnvelope(e), attributes: raw as Attributes };
}

/** The envelope as the bus takes it, unchecked: for a send the worker already checked. */
export const toEnvelope = (e: WitEnvelope): Envelope => ({
  kind: e.kind,
  body: e.body,
  priority: URGENCY[e.priority],
  ttlMs: e.ttlMs,
});
