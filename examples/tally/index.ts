/**
 * `acme:tally/tally`: an example of a capability written outside the kernel, against the SDK
 * alone (published, it would import `agentos/sdk`). Each agent granted `tally` keeps a durable
 * counter; the embedder sets its ceiling. It shows each part of the contract: its own WIT package
 * (tally.wit), the services it needs (storage), its options, a scope check, blocking functions,
 * a function the worker answers itself (local.ts), and the state hooks.
 *
 * @example
 * import { defaultCapabilities, Kernel } from 'agentos';
 * import { tally } from './examples/tally/index.js';
 * const kernel = await Kernel.open({ capabilities: [...defaultCapabilities, tally], config: { tally: { max: 1000 } } });
 * await kernel.spawn('counter.wasm', { grants: ['tally'] });
 */
import {
  AgentOSError,
  AgentStore,
  type CallContext,
  defineCapability,
  GuestError,
  rejectScope,
  workerModule,
} from '../../kernel/sdk/index.js';

export interface TallyConfig {
  /** The highest total an agent may reach. */
  max: number;
}

interface Shared {
  store: AgentStore<number>;
  max: number;
}

interface View {
  agent: string;
  shared: Shared;
}

type Ctx = CallContext<View, 'storage'>;

const total = (ctx: Ctx): number => ctx.view.shared.store.read(ctx.txn, ctx.view.agent, 'total') ?? 0;

function add(ctx: Ctx, n: number): bigint {
  const next = total(ctx) + n;
  if (next > ctx.view.shared.max)
    throw new GuestError(
      'quota-exceeded',
      `tally of ${ctx.view.agent} would reach ${next}, over ${ctx.view.shared.max}`,
    );
  // Staged on the call: stored with its outcome, or not at all if the call crashes.
  ctx.view.shared.store.write(ctx.txn, ctx.view.agent, 'total', next);
  return BigInt(next);
}

export const tally = defineCapability<View, Shared, 'storage', TallyConfig>({
  name: 'tally',
  package: 'acme:tally',
  version: '0.1.0',
  needs: ['storage'],
  config(raw) {
    if (raw === undefined) return { max: Number.MAX_SAFE_INTEGER };
    const max = (raw as { max?: unknown })?.max;
    if (typeof raw !== 'object' || raw === null || !Number.isSafeInteger(max) || (max as number) < 0)
      throw new AgentOSError(
        'AOS_E_BAD_CONFIG',
        `tally takes { max: a whole number >= 0 }, got ${JSON.stringify(raw)}`,
      );
    return { max: max as number };
  },
  init: (services, config) => ({ store: new AgentStore<number>(services.storage, 'tally'), max: config.max }),
  configure(agent, grant, shared) {
    rejectScope(grant, agent.id);
    return { agent: agent.id, shared };
  },
  functions: {
    add: (ctx: Ctx, n: number) => add(ctx, n),
    bump: (ctx: Ctx, n: number) => void add(ctx, n),
    total: (ctx: Ctx) => BigInt(total(ctx)),
  },
  worker: workerModule(import.meta.url, './local.js'),
  posted: {
    // The guest went on already: a bump past the ceiling is dropped, not failed.
    bump: (ctx: Ctx, _result: unknown, n: number) => {
      try {
        add(ctx, n);
      } catch {
        // over the ceiling: nothing added
      }
    },
  },
  drop: (agent, shared) => shared.store.drop(agent),
  export: (agent, shared) => shared.store.read(null, agent, 'total') ?? 0,
  import(agent, state, shared) {
    if (!Number.isSafeInteger(state))
      throw new AgentOSError('AOS_E_BAD_CONFIG', 'a tally state is a whole number');
    shared.store.putAll(agent, [['total', state as number]]);
  },
  fork: (from, to, shared) => shared.store.putAll(to, shared.store.entries(from)),
  async close(shared) {
    shared.store.clear();
  },
});
