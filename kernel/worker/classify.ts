/**
 * How the worker names the end of a call: which limit stopped it, whether the value an export
 * returned is well formed and not too large, and the crash reports that components built by
 * `agentos build` return for an exception that escaped an export (see CRASH_MARKER).
 *
 * @example
 * const bad = valueCrash(value, 'handle', maxBytes, jsonCheck('handle')); // null: it may go back
 * const f = failureOf(thrownValue, 'handle', maxBytes); // { error } or a crash
 */
import { Buffer } from 'node:buffer';
import { DeadlinePassed, FuelExhausted, MemoryLimitHit } from './meter.js';
import { CRASH_MARKER, type CrashReport, type ErrorValue, type TaskResult } from './protocol.js';

/** What a crash says: its message, and for a limit its code and figures. */
export type Crash = Pick<Extract<TaskResult, { kind: 'crash' }>, 'message' | 'code' | 'details'>;

/** What a value check says: null (well formed), why it is malformed, or a crash the guest reported. */
export type Check = (v: unknown) => string | Crash | null;

/** jco throws a ComponentError (an Error with an own `payload`) when an export returns `err`. */
const isComponentError = (e: unknown): e is { payload: ErrorValue } =>
  e instanceof Error && Object.hasOwn(e, 'payload') && !(e instanceof WebAssembly.RuntimeError);

/** What `what` returned: null when it may go back, else why it is a crash. */
export function valueCrash(v: unknown, what: string, maxBytes: number, check?: Check): Crash | string | null {
  const bytes = resultBytes(v);
  if (bytes > maxBytes) return tooLarge(what, bytes, maxBytes);
  return check ? check(v) : null;
}

/** What `what` threw: the guest error it returns (the instance lives on), or the crash it is. */
export function failureOf(e: unknown, what: string, maxBytes: number): { error: ErrorValue } | Crash {
  if (isComponentError(e)) {
    const reported = reportIn(e.payload);
    if (reported) return reported;
    const bytes = errorBytes(e.payload);
    if (bytes > maxBytes) return tooLarge(`${what}'s error`, bytes, maxBytes);
    return { error: e.payload };
  }
  const limit = limitOf(e);
  // A limit's own message says it all; a trap or throw is named by its kind.
  const message = limit.code && limit.code !== 'AOS_E_STACK_OVERFLOW' ? (e as Error).message : thrown(e);
  return { message, ...limit };
}

/** A thrown value in one line: `TypeError: x is undefined`, `thrown string: oops`. */
const thrown = (e: unknown): string =>
  e instanceof Error ? `${e.name}: ${e.message}` : `thrown ${typeof e}: ${String(e)}`;

/** Limits are coded: the kernel reports them under their own error codes. */
function limitOf(e: unknown): Pick<Crash, 'code' | 'details'> {
  if (e instanceof FuelExhausted)
    return { code: 'AOS_E_FUEL_EXHAUSTED', details: { used: e.used, budget: e.budget, budgetKind: e.kind } };
  if (e instanceof MemoryLimitHit)
    return {
      code: 'AOS_E_MEMORY_LIMIT',
      details: { bytes: e.bytes, requested: e.requested, limit: e.limit },
    };
  if (e instanceof DeadlinePassed) return { code: 'AOS_E_DEADLINE', details: { ms: e.ms } };
  if (e instanceof RangeError && /call stack/i.test(e.message))
    return { code: 'AOS_E_STACK_OVERFLOW', details: {} };
  // V8 found no address space for a new memory (base/address-space.ts).
  if (e instanceof RangeError && /allocate (wasm )?memory/i.test(e.message))
    return { code: 'AOS_E_CAPACITY', details: {} };
  return {};
}

/** The JSON an export returned must parse; anything else is a malformed return value. */
export function jsonCheck(what: string): (v: unknown) => string | null {
  return (v) => {
    if (typeof v !== 'string') return `${what} returned a ${typeof v}, not JSON text`;
    try {
      JSON.parse(v);
      return null;
    } catch {
      return `${what} returned malformed JSON: ${v.length > 80 ? `${v.slice(0, 80)}…` : v}`;
    }
  };
}

/** Every descriptor needs a name and JSON schemas that parse. */
function describeCheck(v: unknown): string | null {
  if (!Array.isArray(v)) return `describe returned a ${typeof v}, not a list`;
  for (const d of v as { name?: unknown; inputSchema?: unknown; outputSchema?: unknown }[]) {
    for (const schema of [d.inputSchema, ...(d.outputSchema === undefined ? [] : [d.outputSchema])]) {
      try {
        JSON.parse(schema as string);
      } catch {
        return `describe returned a malformed JSON schema for tool ${String(d.name)}`;
      }
    }
  }
  return null;
}

/** Bytes of what an export returned: its text in UTF-8 (a descriptor list: as JSON). */
export function resultBytes(v: unknown): number {
  if (typeof v === 'string') return Buffer.byteLength(v, 'utf8');
  if (v === undefined || v === null) return 0;
  try {
    return Buffer.byteLength(JSON.stringify(v) ?? '', 'utf8');
  } catch {
    return 0; // not JSON-shaped: the value check names it
  }
}

/** Bytes of a guest error: its reason is the guest's text too. */
export const errorBytes = (e: ErrorValue): number =>
  typeof e.val === 'string' ? Buffer.byteLength(e.val, 'utf8') : 0;

/** A value over the kernel's `maxResultBytes`. */
function tooLarge(what: string, bytes: number, limit: number): Crash {
  return {
    message: `${what} returned ${bytes} bytes, more than the ${limit}-byte result limit (maxResultBytes)`,
    code: 'AOS_E_RESULT_TOO_LARGE',
    details: { bytes, limit },
  };
}

/** The longest message and stack a crash report keeps: they land in journals and events. */
const MAX_MESSAGE = 1000;
const MAX_STACK_LINES = 20;
const MAX_STACK = 4000;

const clip = (s: string, n: number): string => (s.length > n ? `${s.slice(0, n)}…` : s);

/** A crash report's JSON (after the marker) as a crash; what does not parse is kept as text. */
function fromReport(json: string): Crash {
  let r: Partial<CrashReport>;
  try {
    r = JSON.parse(json) as Partial<CrashReport>;
  } catch {
    return { message: `uncaught exception: ${clip(json, MAX_MESSAGE)}` };
  }
  const name = typeof r.name === 'string' ? r.name : 'unknown';
  const text = clip(typeof r.message === 'string' ? r.message : String(r.message), MAX_MESSAGE);
  const head = /^[A-Z]\w*$/.test(name) ? `${name}: ${text}` : `thrown ${name}: ${text}`;
  const details: Record<string, unknown> = { thrown: name };
  if (typeof r.export === 'string') details.export = r.export;
  if (typeof r.stack !== 'string' || r.stack.trim() === '') return { message: head, details };
  const stack = clip(r.stack.trim().split('\n').slice(0, MAX_STACK_LINES).join('\n'), MAX_STACK);
  details.stack = stack;
  // The stack goes in the message too: the kernel's AOS_E_AGENT_CRASHED carries the message.
  return { message: `${head}\n${stack.replace(/^/gm, '    ')}`, details };
}

/** The crash report in an export's `err` value, or null for a real guest error. */
function reportIn(payload: ErrorValue): Crash | null {
  if (typeof payload?.val !== 'string' || !payload.val.startsWith(CRASH_MARKER)) return null;
  return fromReport(payload.val.slice(CRASH_MARKER.length));
}

/** describe's list, unless it is the crash report a built component returns in its place. */
export const describeOrReport: Check = (v) => reportInList(v) ?? describeCheck(v);

/** The crash report `describe` returned instead of its list (one descriptor named by the marker). */
function reportInList(v: unknown): Crash | null {
  if (!Array.isArray(v) || v.length !== 1) return null;
  const d = v[0] as { name?: unknown; description?: unknown };
  const text = String(d?.description);
  if (d?.name !== CRASH_MARKER || !text.startsWith(CRASH_MARKER)) return null;
  return fromReport(text.slice(CRASH_MARKER.length));
}
