/**
 * Whole-system record and replay. `kernel.record()` writes a bundle (kernel/replay/bundle.ts)
 * of the agents' runs: each agent's record and whole journal, every component any of them ran,
 * and the order of every invocation across them. `Kernel.replayBundle(file)` replays every
 * agent in it on any machine, in one isolated kernel, each from its own recorded inputs (so each
 * outcome is reproduced whatever the interleaving), and reports per agent.
 *
 * @example
 * writeFileSync('run.bundle', await kernel.record());
 * const report = await Kernel.replayBundle('run.bundle');   // { identical: true, agents: [...] }
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { env } from 'node:process';
import type { KernelOptions } from './api.js';
import type { KernelAssembly } from './assembly.js';
import { AgentOSError } from './base/errors.js';
import { createLogger } from './base/logger.js';
import { agentosVersion } from './base/paths.js';
import { sha256 } from './loader/loader.js';
import { type BundleContents, type BundledAgent, decodeBundle, encodeBundle } from './replay/bundle.js';
import { type Isolation, isolated, type ReplayReport } from './replay.js';
import { replayIn } from './replay-run.js';
import { readManifest } from './signing/manifest.js';
import { type PolicyOptions, SigningPolicy } from './signing/policy.js';
import { TrustStore } from './signing/trust.js';

export interface BundleReport {
  /** True when every agent replayed as recorded. */
  identical: boolean;
  agents: ReplayReport[];
  /** Invocations replayed, over all agents. */
  invocations: number;
  recordedAt: number;
  /** The AgentOS that recorded it. */
  agentos: string;
  replayMs: number;
}

export interface BundleReplayOptions
  extends Pick<KernelOptions, 'capabilities' | 'config' | 'cacheDir' | 'logger' | 'logLevel'> {
  /** The data dir whose trust store admits the bundled components (default $AGENTOS_HOME or ./.agentos). */
  home?: string;
  policy?: PolicyOptions;
  /** Only these agents of the bundle. */
  agents?: string[];
}

/** The bundle of `agents` (default: every agent, terminated ones included). @throws AgentOSError AOS_E_AGENT_NOT_FOUND */
export async function recordRun(source: KernelAssembly, agents?: string[]): Promise<Buffer> {
  await source.store.flushed();
  const ids = agents ?? source.processes.all().map((r) => r.id);
  const bundled: BundledAgent[] = [];
  const components: Record<string, Uint8Array> = {};
  const order: { at: number; id: number; agent: string; seq: number }[] = [];
  for (const id of ids) {
    const rec = source.processes.get(id);
    if (!rec)
      throw new AgentOSError('AOS_E_AGENT_NOT_FOUND', `no agent ${JSON.stringify(id)}`, { agent: id });
    const { capState: _c, ...record } = rec;
    const entries = [...source.journalStore.entries(id)];
    const gap = entries.findIndex((e, i) => e.seq !== i);
    if (gap >= 0)
      throw new AgentOSError(
        'AOS_E_REPLAY',
        `the journal of ${id} was pruned (it goes from #${entries[gap - 1]!.seq} to #${entries[gap]!.seq}): a bundle carries whole journals only`,
        { agent: id },
      );
    for (const e of entries) {
      if ((e.t === 'spawn' || e.t === 'upgrade') && !components[e.digest])
        components[e.digest] = source.loader.stored(e.digest);
      if (e.t === 'invoke') order.push({ at: e.at, id: e.message.id, agent: id, seq: e.seq });
    }
    bundled.push({ record: structuredClone(record), entries });
  }
  // Across agents: by kernel time, then by message id (ids are given out in order, kernel-wide).
  order.sort((a, b) => a.at - b.at || a.id - b.id || a.seq - b.seq);
  const contents: BundleContents = {
    recordedAt: Date.now(),
    agentos: agentosVersion(),
    agents: bundled,
    components,
    order: order.map((o) => [o.agent, o.seq]),
  };
  return encodeBundle(contents);
}

/** @throws AgentOSError AOS_E_BAD_BUNDLE, AOS_E_COMPONENT_NOT_FOUND, the signing policy's codes */
export async function replayBundle(
  open: Isolation['open'],
  bundle: string | Uint8Array,
  options: BundleReplayOptions = {},
): Promise<BundleReport> {
  const t0 = performance.now();
  const what = typeof bundle === 'string' ? bundle : 'the bundle';
  let bytes: Uint8Array;
  try {
    bytes = typeof bundle === 'string' ? readFileSync(bundle) : bundle;
  } catch (e) {
    throw new AgentOSError('AOS_E_COMPONENT_NOT_FOUND', `cannot read ${what}: ${(e as Error).message}`);
  }
  const contents = decodeBundle(bytes, what);
  const logger = options.logger ?? createLogger(options.logLevel ?? 'warn');
  // The bundled components run only if this machine's signing policy admits them.
  const home = options.home ?? env.AGENTOS_HOME ?? './.agentos';
  const policy = new SigningPolicy(TrustStore.at(home), options.policy ?? {}, logger, Date.now);
  for (const [digest, component] of Object.entries(contents.components)) {
    const label = `bundled component ${digest.slice(0, 12)}…`;
    policy.admit(component, sha256(component), readManifest(component, label), label);
  }
  const wanted = options.agents;
  const agents = wanted ? contents.agents.filter((a) => wanted.includes(a.record.id)) : contents.agents;
  for (const id of wanted ?? [])
    if (!agents.some((a) => a.record.id === id))
      throw new AgentOSError('AOS_E_AGENT_NOT_FOUND', `the bundle has no agent ${JSON.stringify(id)}`, {
        agent: id,
      });
  const iso: Isolation = {
    open,
    base: {
      ...(options.capabilities === undefined ? {} : { capabilities: options.capabilities }),
      ...(options.config === undefined ? {} : { config: options.config }),
      // Transpiled components are shared with the data dir's own cache.
      cacheDir: options.cacheDir ?? env.AGENTOS_CACHE ?? join(home, 'cache'),
      logger,
    },
    admit: async () => '',
  };
  const reports = await isolated(iso, async (core) => {
    const out: ReplayReport[] = [];
    for (const a of agents) {
      const bytesOf = (digest: string): Uint8Array => contents.components[digest]!;
      out.push(await replayIn(core, { record: a.record, entries: a.entries, bytes: bytesOf }, {}));
    }
    return out;
  });
  return {
    identical: reports.every((r) => r.identical),
    agents: reports,
    invocations: reports.reduce((n, r) => n + r.invocations, 0),
    recordedAt: contents.recordedAt,
    agentos: contents.agentos,
    replayMs: Math.round(performance.now() - t0),
  };
}
