/**
 * `agentos:kernel/working-memory`: a durable key-value store in the agent's own namespace
 * (LMDB keys `[agent, key]`), so no agent can name another's keys. Grant `working-memory` for
 * read-write, `working-memory:read-only` for reads.
 *
 * A write is staged on the call's transaction (kernel/txn.ts): the agent reads it at once, and it
 * is stored with the call's outcome, or dropped if the call crashes. Once stored it sits in an
 * overlay until its batch commits, so an agent always reads its own writes.
 *
 * @example
 * // guest
 * import { get, set } from 'agentos:kernel/working-memory@0.1.0';
 * set('count', String(Number(get('count') ?? '0') + 1));
 */

import { Buffer } from 'node:buffer';
import type { Database } from 'lmdb';
import { type CallContext, defineCapability, type KernelServices } from '../../kernel/capability.js';
import { AgentOSError, GuestError } from '../../kernel/errors.js';
import type { WriteBatch } from '../../kernel/store/write-batch.js';

export const MAX_KEY_BYTES = 512;
export const MAX_VALUE_BYTES = 1 << 20;
/** Most keys one `list` returns. */
export const MAX_LIST = 1000;

type Key = [string, string];

/** One kernel's store: the database and the writes not yet committed (`agent\0key` → value, null = delete). */
interface Shared {
  db: Database<string, Key>;
  batch: WriteBatch;
  pending: Map<string, string | null>;
}

interface MemoryView {
  agent: string;
  readOnly: boolean;
  shared: Shared;
}

const utf8Length = (s: string): number => Buffer.byteLength(s, 'utf8');

function checkKey(key: string): void {
  const n = utf8Length(key);
  if (n === 0 || n > MAX_KEY_BYTES) {
    throw new GuestError('invalid', `working-memory key must be 1..${MAX_KEY_BYTES} bytes, got ${n}`);
  }
}

function checkWritable(view: MemoryView): void {
  if (view.readOnly) throw new GuestError('denied', 'working-memory is granted read-only to this agent');
}

/** The name of this capability's overlay on a call's transaction (key → value, null = delete). */
const STAGED = 'working-memory';

/**
 * Stages a write on the call's transaction; when the call commits, it joins the kernel's write
 * batch (in the same transaction as the call's outcome) and stays visible in the shared overlay
 * until that commit lands.
 */
function write(ctx: Ctx, key: string, value: string | null): void {
  ctx.txn.overlay<string, string | null>(STAGED).set(key, value);
  const { agent, shared } = ctx.view;
  ctx.txn.onCommit(() => {
    const { db, pending, batch } = shared;
    const id = `${agent}\0${key}`;
    pending.set(id, value);
    if (value === null) batch.remove(db, [agent, key]);
    else batch.put(db, [agent, key], value);
    batch.afterCommit(() => {
      if (pending.get(id) === value) pending.delete(id);
    });
  });
}

/** The call's own staged value, else the one stored (or committing). */
function read(ctx: Ctx, key: string): string | undefined {
  const staged = ctx.txn.staged<string, string | null>(STAGED, key);
  if (staged) return staged.value ?? undefined;
  const { agent, shared } = ctx.view;
  const id = `${agent}\0${key}`;
  if (shared.pending.has(id)) return shared.pending.get(id) ?? undefined;
  return shared.db.get([agent, key]);
}

type Ctx = CallContext<MemoryView>;

export const workingMemory = defineCapability<MemoryView, Shared>({
  name: 'working-memory',
  init: (services: KernelServices) => ({
    db: services.store.db('working-memory') as unknown as Database<string, Key>,
    batch: services.store.batch,
    pending: new Map(),
  }),
  configure(agent, grant, shared) {
    if (grant.scope !== '' && grant.scope !== 'read-only') {
      throw new AgentOSError(
        'AOS_E_BAD_CONFIG',
        `grant "working-memory:${grant.scope}" for ${agent.id}: the only scope is "read-only"`,
      );
    }
    return { agent: agent.id, readOnly: grant.scope === 'read-only', shared };
  },
  functions: {
    get: (ctx: Ctx, key: string) => {
      checkKey(key);
      return read(ctx, key);
    },
    set: (ctx: Ctx, key: string, value: string) => {
      checkWritable(ctx.view);
      checkKey(key);
      const n = utf8Length(value);
      if (n > MAX_VALUE_BYTES) {
        throw new GuestError(
          'quota-exceeded',
          `working-memory value of ${n} bytes exceeds ${MAX_VALUE_BYTES}`,
        );
      }
      write(ctx, key, value);
    },
    delete: (ctx: Ctx, key: string) => {
      checkWritable(ctx.view);
      checkKey(key);
      const existed = read(ctx, key) !== undefined;
      if (existed) write(ctx, key, null);
      return existed;
    },
    list: (ctx: Ctx, prefix: string, limit: number) => {
      const max = limit === 0 || limit > MAX_LIST ? MAX_LIST : limit;
      const { agent, shared } = ctx.view;
      const keys = new Set<string>();
      // Walk from the prefix and stop at the first key without it (UTF-8 order: an upper bound
      // like prefix + '\uffff' would miss keys whose next character is above U+FFFF).
      const staged = ctx.txn.allStaged<string, string | null>(STAGED);
      for (const k of shared.db.getKeys({ start: [agent, prefix] })) {
        const [owner, key] = k as Key;
        if (owner !== agent || !key.startsWith(prefix)) break;
        keys.add(key);
        if (keys.size > max + shared.pending.size + staged.length) break;
      }
      const head = `${agent}\0`;
      const apply = (key: string, value: string | null): void => {
        if (!key.startsWith(prefix)) return;
        if (value === null) keys.delete(key);
        else keys.add(key);
      };
      for (const [id, value] of shared.pending) if (id.startsWith(head)) apply(id.slice(head.length), value);
      for (const [key, value] of staged) apply(key, value);
      return [...keys].sort(compareUtf8).slice(0, max);
    },
  },
  async close(shared) {
    shared.pending.clear();
  },
});

/** Byte order of UTF-8, which is LMDB's key order. */
function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
