/**
 * `kernel.upgrade(id)`: moves a running agent to the catalog's current version of the component
 * it was spawned from (or to the version `to` names), keeping its id, mailbox, working memory,
 * statistics and settings. The new version passes every check a spawn makes, with the grants the
 * spawner gave and the agent's own config, limits and seed; it is transpiled before the agent is
 * touched. Then the agent is held (no new call starts), its call in flight ends, its instance is
 * dropped (on its worker, before that worker's next task), and a new instance runs `init` on the
 * new version, on any free worker. If that fails the agent goes back
 * to the version it ran, and the error is thrown. The switch is journaled (`t: 'upgrade'`), so a
 * replay knows from which invocation on the new bytes run.
 *
 * @example
 * await kernel.catalog.update('dist/text-stats-1.3.wasm');
 * await kernel.upgrade(id);                    // { from: '1.2.0', to: '1.3.0', upgraded: true }
 * await kernel.upgrade(id, 'text-stats@1.2');  // back, by range
 */

import { existsSync } from 'node:fs';
import { type AgentRuntime, terminated } from './agents/agent.js';
import type { KernelAssembly } from './assembly.js';
import { AgentOSError } from './base/errors.js';
import { checkWhole } from './base/validate.js';
import { REF } from './catalog/catalog.js';
import type { ReplayReport } from './replay.js';
import { checkSpawn, type SpawnChecks } from './spawn-options.js';
import type { AgentRecord } from './store/process-table.js';

export interface Upgraded {
  id: string;
  /** The versions (or digests, for a component without a manifest) before and after. */
  from: string;
  to: string;
  /** False when the agent already ran that version: nothing changed. */
  upgraded: boolean;
  /** The replay of its recorded run on the new version (absent with `check: false`). */
  replay?: ReplayReport;
}

/** The parts of a record an upgrade changes, and restores when the new version fails. */
type Swapped = Pick<AgentRecord, 'digest' | 'imports' | 'grants' | 'provenance'>;
const swapped = (r: AgentRecord): Swapped => ({
  digest: r.digest,
  imports: r.imports,
  grants: r.grants,
  provenance: r.provenance,
});

const versionOf = (r: AgentRecord): string => r.provenance?.version ?? r.digest.slice(0, 12);

export interface UpgradeOptions {
  /**
   * Replay the agent's recorded run on the new version first, and switch only if it behaves
   * the same (default true): AOS_E_REPLAY_DIVERGED otherwise, nothing changed.
   */
  check?: boolean;
  /** How many of the latest invocations the replay checks (default 100; the earlier ones still run). */
  recent?: number;
  /** Switch even when the replay diverges (the report is returned). */
  force?: boolean;
}

/** Replays the agent's run on `component`, checking its last `last` invocations. */
export type ReplayOn = (component: Uint8Array, last: number) => Promise<ReplayReport>;

/** @throws AgentOSError AOS_E_BAD_ARGUMENT, AOS_E_NOT_INSTALLED, AOS_E_WRONG_WORLD, AOS_E_BAD_STATE, AOS_E_REPLAY_DIVERGED, spawn's refusals, the new version's init error */
export async function upgradeAgent(
  core: KernelAssembly,
  checks: SpawnChecks,
  replayOn: ReplayOn,
  id: string,
  to?: string,
  options: UpgradeOptions = {},
): Promise<Upgraded> {
  core.check();
  const agent = core.agents.get(id);
  agent.assertLive();
  if (typeof options !== 'object' || options === null)
    throw new AgentOSError('AOS_E_BAD_ARGUMENT', 'upgrade options must be an object');
  if (options.recent !== undefined) checkWhole(options.recent, 'recent');
  const rec = agent.record;
  const name = rec.provenance?.name;
  if (to !== undefined && (typeof to !== 'string' || to === ''))
    throw new AgentOSError(
      'AOS_E_BAD_ARGUMENT',
      `upgrade takes name, name@range or a component file, got ${JSON.stringify(to)}`,
    );
  // A component file, or an installed version (`name`, `name@range`).
  const file = to !== undefined && (!REF.test(to) || existsSync(to));
  let target: string;
  if (file) target = to;
  else {
    const ref = to ?? name;
    if (!ref)
      throw new AgentOSError(
        'AOS_E_BAD_ARGUMENT',
        `${id} was spawned from a component without a manifest; name the version to upgrade to (name@range, or a file)`,
      );
    if (name && REF.exec(ref)![1] !== name)
      throw new AgentOSError('AOS_E_BAD_ARGUMENT', `${id} runs ${name}; it cannot be upgraded to ${ref}`);
    const entry = core.catalog.resolve(ref);
    if (entry.digest === rec.digest) return { id, from: entry.version, to: entry.version, upgraded: false };
    target = `${entry.name}@${entry.version}`;
  }
  if (agent.held && agent.heldBy !== 'dormancy')
    throw new AgentOSError(
      'AOS_E_BAD_STATE',
      `${id} is being ${agent.heldBy === 'fork' ? 'forked' : agent.heldBy === 'export' ? 'exported' : 'upgraded'}`,
      {
        agent: id,
      },
    );

  // Every check of a spawn, on the agent's own settings; nothing changes if one fails.
  const c = await checkSpawn(
    target,
    {
      grants: rec.provenance?.granted ?? rec.grants,
      config: JSON.parse(rec.config),
      restart: rec.restart,
      seed: rec.seed,
      limits: rec.limits,
      priority: rec.priority,
      weight: rec.weight,
    },
    checks,
  );
  if (file && name && c.info.manifest?.name !== name)
    throw new AgentOSError(
      'AOS_E_BAD_ARGUMENT',
      `${id} runs ${name}; ${to} is ${c.info.manifest ? c.info.manifest.name : 'a component without a manifest'}`,
    );
  if (c.info.digest === rec.digest) return { id, from: versionOf(rec), to: versionOf(rec), upgraded: false };
  if (c.info.world !== rec.world)
    throw new AgentOSError(
      'AOS_E_WRONG_WORLD',
      `${id} is ${rec.world === 'agent' ? 'an agent' : 'a skill'}; ${c.what} is ${c.info.world === 'agent' ? 'an agent' : 'a skill'}`,
    );
  const loaded = core.loader.load(c.info, c.bytes);
  await loaded;
  // The recorded run, replayed on the new version in an isolated kernel: does it behave the same?
  let replay: ReplayReport | undefined;
  if (options.check !== false) {
    replay = await replayOn(c.bytes, options.recent ?? 100);
    const d = replay.divergence;
    if (d && !options.force)
      throw new AgentOSError(
        'AOS_E_REPLAY_DIVERGED',
        `${id}'s recorded run diverges on ${c.what} at invocation ${d.invocation}${d.hostcall === undefined ? '' : `, hostcall ${d.hostcall}`} (${d.what}: recorded ${d.expected}, now ${d.actual}); nothing changed (force to switch anyway)`,
        { agent: id, ...d },
      );
  }
  core.check();
  // Kept in the data dir, as spawn keeps its bytes: the agent is restored on them after a restart.
  core.loader.keep(c.bytes, c.info.digest);

  const from = versionOf(rec);
  await agent.hold('upgrade');
  try {
    await agent.idle();
    core.check();
    agent.assertLive();
    core.agents.save(agent); // the capabilities' state, as the old views leave it
    const before = swapped(rec);
    // The old instance is dropped on its worker before that worker takes any other task
    // (Executor.runUnloads), so it never meets the new one; nothing waits for it here, so a call
    // blocked on this agent (an ipc.call it has queued) holds nothing up.
    core.executor.release(agent);
    put(core, agent, { ...before, ...fresh(c) }, loaded);
    const err = await core.executor.startFirst(agent, 'upgrade');
    if (err && rec.state !== 'terminated') {
      core.executor.release(agent);
      put(core, agent, before, undefined);
      core.agents.save(agent);
      throw err;
    }
    const at = Number(core.services.clock.now());
    if (rec.state === 'crashed') rec.state = 'ready'; // its new instance is up
    agent.retryAt = 0;
    // Terminated while its new instance started: the switch happened, and is journaled.
    core.journalStore.append(id, {
      t: 'upgrade',
      at,
      digest: rec.digest,
      from: before.digest,
      grants: rec.grants,
      ...(rec.provenance?.version ? { version: rec.provenance.version } : {}),
    });
    if (rec.state === 'terminated') {
      core.agents.save(agent);
      throw terminated(id);
    }
    core.agents.save(agent);
    core.eventLog.emit('agent.upgraded', id, { from, to: versionOf(rec), digest: rec.digest });
    return { id, from, to: versionOf(rec), upgraded: true, ...(replay ? { replay } : {}) };
  } finally {
    agent.unhold();
    core.executor.wake(agent);
  }
}

const fresh = (c: Awaited<ReturnType<typeof checkSpawn>>): Swapped => ({
  digest: c.info.digest,
  imports: c.info.imports,
  grants: c.grants,
  provenance: c.provenance,
});

/** Puts `parts` on the agent's record and links it again, with `component` loaded for it. */
function put(
  core: KernelAssembly,
  agent: AgentRuntime,
  parts: Swapped,
  component: AgentRuntime['component'],
): void {
  Object.assign(agent.record, parts, { updatedAt: Number(core.services.clock.now()) });
  core.agents.relink(agent);
  agent.component = component;
}
