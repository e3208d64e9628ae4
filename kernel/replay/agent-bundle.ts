/**
 * An exported agent in one portable file (`kernel.export`, `agentos export`): what another
 * kernel needs to continue it exactly where it stopped — its record (grants, config, limits,
 * seed, accounting), its capabilities' state through their export hooks (working memory), the
 * bytes of every component its kept journal names, its kept checkpoints (its heap, the newest
 * taken at the export), its journal's spawn record and tail after the oldest checkpoint, and the
 * messages still queued for it.
 *
 * Layout: replay/container.ts, with the magic `AOSAGNT1`. Reading checks the container, then
 * every part for shape (a component against its digest, the journal in order), before anything
 * is stored.
 *
 * @example
 * const file = encodeAgentBundle(contents);
 * const back = decodeAgentBundle(file, 'counter.bundle');   // or AOS_E_BAD_BUNDLE saying why
 */
import { createHash } from 'node:crypto';
import { AgentOSError } from '../base/errors.js';
import type { Checkpoint } from '../store/checkpoints.js';
import type { JournalEntry } from '../store/journal.js';
import { type AgentRecord, emptyStats } from '../store/process-table.js';
import { pack, unpack } from './container.js';

const MAGIC = 'AOSAGNT1';
const FORMAT = 1;

/** A message still queued for the agent when it was exported: it is delivered where it is imported. */
export interface BundledMessage {
  kind: string;
  body: string;
  priority?: 0 | 2;
}

export interface AgentBundleContents {
  /** When it was exported (ms since the epoch), and by which AgentOS. */
  exportedAt: number;
  agentos: string;
  /** Its record as the source kept it (its state before the export). */
  record: AgentRecord;
  /** Each capability's state of it, by capability name (CapabilityHost.exportState). */
  capabilities: Record<string, unknown>;
  /** Component bytes by sha256 (hex): the one it runs, and any its journal or checkpoints name. */
  components: Record<string, Uint8Array>;
  /** Its kept checkpoints, oldest first; the newest is its state at the export, when it had one. */
  checkpoints: Checkpoint[];
  /** Its spawn record, then every entry after its oldest checkpoint (all of them without one). */
  entries: JournalEntry[];
  /** The sequence number of the next journal entry (the tail may end before its checkpoint). */
  next: number;
  messages: BundledMessage[];
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

const STATES = new Set(['ready', 'suspended', 'crashed']);

/** Whether the bundle carries every journal entry from the spawn on (none was left out). */
export const wholeJournal = (c: Pick<AgentBundleContents, 'entries' | 'next'>): boolean =>
  c.entries.length === c.next && c.entries.every((e, i) => e.seq === i);

export function encodeAgentBundle(contents: AgentBundleContents): Buffer {
  return pack(MAGIC, FORMAT, contents);
}

/** @throws AgentOSError AOS_E_BAD_BUNDLE naming what is wrong */
export function decodeAgentBundle(bytes: Uint8Array, what: string): AgentBundleContents {
  const bad = (why: string): AgentOSError =>
    new AgentOSError('AOS_E_BAD_BUNDLE', `${what} is not a usable agent bundle: ${why}`, { bundle: what });
  const contents = unpack(MAGIC, FORMAT, bytes, bad) as AgentBundleContents;
  check(contents, bad);
  return contents;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function check(c: AgentBundleContents, bad: (why: string) => AgentOSError): void {
  if (!isObject(c) || !isObject(c.record) || !Array.isArray(c.entries) || !Array.isArray(c.checkpoints))
    throw bad('its contents are not an exported agent');
  checkRecord(c.record, bad);
  const r = c.record;
  if (!isObject(c.capabilities)) throw bad('it has no capability state');
  if (!isObject(c.components)) throw bad('it has no components');
  for (const [digest, b] of Object.entries(c.components))
    if (!(b instanceof Uint8Array) || sha256(b) !== digest)
      throw bad(`component ${digest.slice(0, 12)}… does not match its digest`);
  const has = (digest: unknown, who: string): void => {
    if (typeof digest !== 'string' || !(digest in c.components))
      throw bad(`${who} names component ${String(digest).slice(0, 12)}…, which the bundle lacks`);
  };
  has(r.digest, 'its record');
  let last = -1;
  for (const [i, e] of c.entries.entries()) {
    if (!isObject(e) || typeof e.t !== 'string' || !Number.isSafeInteger(e.seq) || e.seq <= last)
      throw bad(`journal entry ${i} is not in sequence`);
    last = e.seq;
    if (i === 0 && (e.t !== 'spawn' || e.seq !== 0)) throw bad('its journal does not start with the spawn');
    if (e.t === 'hostcall' && !(e.args instanceof Uint8Array && e.result instanceof Uint8Array))
      throw bad(`journal entry #${e.seq} is not a hostcall record`);
    if (
      e.t === 'invoke' &&
      !(isObject(e.message) && Number.isSafeInteger(e.message.id) && typeof e.message.body === 'string')
    )
      throw bad(`journal entry #${e.seq} is not an invocation record`);
    if (e.t === 'outcome' && !(typeof e.value === 'string' && typeof e.fuel === 'number'))
      throw bad(`journal entry #${e.seq} is not an outcome record`);
    if (e.t === 'upgrade' && !Array.isArray(e.grants))
      throw bad(`journal entry #${e.seq} is not an upgrade record`);
    if (e.t === 'spawn' || e.t === 'upgrade') has(e.digest, `journal entry #${e.seq}`);
  }
  if (last < 0) throw bad('its journal is empty');
  if (!Number.isSafeInteger(c.next) || c.next <= last || c.next > 2 ** 48)
    throw bad('its journal has no next entry after its last');
  let prev = -1;
  for (const [i, cp] of c.checkpoints.entries()) {
    if (!isObject(cp) || !Number.isSafeInteger(cp.seq) || cp.seq <= prev || cp.seq >= c.next)
      throw bad(`checkpoint ${i} is not at an entry of its journal, in order`);
    prev = cp.seq;
    if (!(cp.bytes instanceof Uint8Array) || typeof cp.build !== 'string' || !Array.isArray(cp.grants))
      throw bad(`checkpoint #${cp.seq} holds no state`);
    has(cp.digest, `checkpoint #${cp.seq}`);
  }
  // Without a checkpoint, recovery rebuilds its heap from the whole journal.
  if (c.checkpoints.length === 0 && !wholeJournal(c))
    throw bad('its journal has a gap and no checkpoint to start from');
  if (!Array.isArray(c.messages)) throw bad('it has no message list');
  for (const [i, m] of c.messages.entries())
    if (
      !isObject(m) ||
      typeof m.kind !== 'string' ||
      typeof m.body !== 'string' ||
      (m.priority !== undefined && m.priority !== 0 && m.priority !== 2)
    )
      throw bad(`queued message ${i} is not a message`);
}

/** An agent id as the kernel makes them (`name-hex`), and nothing a path or a log could misread. */
const ID = /^[a-z0-9][a-z0-9-]{0,80}$/;

/** The record's fields the kernel reads as it runs the agent (spawn's checks see the rest). */
function checkRecord(r: AgentRecord, bad: (why: string) => AgentOSError): void {
  if (typeof r.id !== 'string' || !ID.test(r.id))
    throw bad(`its record's id ${JSON.stringify(r.id)} is not an agent id`);
  if (typeof r.digest !== 'string' || typeof r.name !== 'string') throw bad('its record names no component');
  if (!STATES.has(r.state)) throw bad(`its record's state is ${JSON.stringify(r.state)}`);
  if (r.world !== 'agent' && r.world !== 'skill')
    throw bad(`its record's world is ${JSON.stringify(r.world)}`);
  if (!Array.isArray(r.grants) || !r.grants.every((g) => typeof g === 'string'))
    throw bad('its record lacks its grants');
  if (typeof r.config !== 'string' || typeof r.seed !== 'string')
    throw bad('its record lacks its config or seed');
  for (const k of ['createdAt', 'updatedAt', 'generation'] as const)
    if (!Number.isSafeInteger(r[k]) || r[k] < 0 || r[k] > 2 ** 48)
      throw bad(`its record's ${k} is not a whole number`);
  if (!isObject(r.capState)) throw bad("its record's capability state is not an object");
  if (r.lastError !== null && !(isObject(r.lastError) && typeof r.lastError.code === 'string'))
    throw bad("its record's last error is not one");
  const s = r.stats as unknown as Record<string, unknown>;
  if (!isObject(s)) throw bad("its record's stats are not an object");
  for (const [k, v] of Object.entries(emptyStats()))
    if (typeof v === 'number' ? !count(s[k]) : !numbers(s[k]))
      throw bad(`its record's stats.${k} is not what the kernel counts there`);
}

const count = (n: unknown): boolean => typeof n === 'number' && Number.isFinite(n) && n >= 0;
const numbers = (v: unknown): boolean => isObject(v) && Object.values(v).every(count);
