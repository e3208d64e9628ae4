/**
 * `agentos:kernel/working-memory`: a durable key-value store in the agent's own namespace
 * (LMDB keys `[agent, key]`), so no agent can name another's keys. Grant `working-memory` for
 * read-write, `working-memory:read-only` for reads.
 *
 * A write is staged on the call's transaction (kernel/sdk CallTxn): the agent reads it at once, and it
 * is stored with the call's outcome, or dropped if the call crashes. Once stored it sits in an
 * overlay until its batch commits, so an agent always reads its own writes.
 *
 * @example
 * // guest
 * import { get, set } from 'agentos:kernel/working-memory@0.1.0';
 * set('count', String(Number(get('count') ?? '0') + 1));
 */

import { Buffer } from 'node:buffer';
import {
  AgentOSError,
  AgentStore,
  type CallContext,
  defineCapability,
  GuestError,
} from '../../kernel/sdk/index.js';

export const MAX_KEY_BYTES = 512;
export const MAX_VALUE_BYTES = 1 << 20;
/** Most keys one `list` returns. */
export const MAX_LIST = 1000;

interface MemoryView {
  agent: string;
  readOnly: boolean;
  store: AgentStore<string>;
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

type Ctx = CallContext<MemoryView, 'storage'>;

const read = (ctx: Ctx, key: string): string | undefined => ctx.view.store.read(ctx.txn, ctx.view.agent, key);
const write = (ctx: Ctx, key: string, value: string | null): void =>
  ctx.view.store.write(ctx.txn, ctx.view.agent, key, value);

export const workingMemory = defineCapability<MemoryView, AgentStore<string>, 'storage'>({
  name: 'working-memory',
  needs: ['storage'],
  init: (services) => new AgentStore<string>(services.storage, 'working-memory'),
  configure(agent, grant, store) {
    if (grant.scope !== '' && grant.scope !== 'read-only') {
      throw new AgentOSError(
        'AOS_E_BAD_CONFIG',
        `grant "working-memory:${grant.scope}" for ${agent.id}: the only scope is "read-only"`,
      );
    }
    return { agent: agent.id, readOnly: grant.scope === 'read-only', store };
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
      return ctx.view.store.list(ctx.txn, ctx.view.agent, prefix, max);
    },
  },
  // A terminated agent's keys go with it; export, import and fork carry them whole.
  drop: (agent, store) => store.drop(agent),
  export: (agent, store) => store.entries(agent),
  import(agent, state, store) {
    if (
      !Array.isArray(state) ||
      !state.every((e) => Array.isArray(e) && typeof e[0] === 'string' && typeof e[1] === 'string')
    )
      throw new AgentOSError(
        'AOS_E_BAD_CONFIG',
        'working-memory state must be a list of [key, value] strings',
      );
    store.putAll(agent, state as [string, string][]);
  },
  fork: (from, to, store) => store.putAll(to, store.entries(from)),
  async close(store) {
    store.clear();
  },
});
