/**
 * `kernel.spawn`: every check first (spawn-options.ts: the component, its signature and world,
 * its imports against the grants, each grant's scope, each option; every problem at once), then
 * the component transpiled, its bytes kept, the agent recorded and journaled, and its first
 * instance started so that an init error surfaces to the spawner (the agent is then terminated).
 *
 * @example
 * const id = await spawnAgent(core, 'echo.wasm', { grants: ['log'] });
 */
import { randomBytes } from 'node:crypto';
import type { AgentRuntime } from './agents/agent.js';
import type { SpawnOptions } from './api.js';
import type { KernelAssembly } from './assembly.js';
import { installedFor } from './catalog/install.js';
import { checkSpawn, newRecord, type SpawnChecks } from './spawn-options.js';
import type { JournalRecord } from './store/journal.js';
import type { AgentRecord } from './store/process-table.js';

/** What spawn's checks ask of the kernel (an upgrade makes the same checks). */
export function spawnChecks(core: KernelAssembly): SpawnChecks {
  return {
    inspect: (bytes, what) => core.loader.inspect(bytes, what),
    byDigest: (digest) => core.loader.byDigest(digest),
    paths: core.loader.paths,
    admit: (bytes, info, what) => core.policy.admit(bytes, info.digest, info.manifest, what),
    fromCatalog: (ref) => installedFor(core, ref),
    defaults: core.defaults,
    table: core.table,
    configure: (cap, draft, grant) => core.capabilities.configure(cap.name, draft, grant),
  };
}

/** The journal's first record of an agent: what a replay places it with (`from`: a fork's source). */
export function spawnEntry(
  record: AgentRecord,
  at: number,
  from?: { agent: string; seq: number },
): JournalRecord {
  return {
    t: 'spawn',
    at,
    digest: record.digest,
    world: record.world,
    grants: record.grants,
    config: record.config,
    seed: record.seed,
    limits: record.limits,
    priority: record.priority,
    weight: record.weight,
    ...(from ? { from } : {}),
  };
}

/** @throws AgentOSError every refusal of the checks, or the first instance's start error */
export async function spawnAgent(
  core: KernelAssembly,
  component: string | Uint8Array,
  options: SpawnOptions = {},
): Promise<string> {
  core.check();
  const c = await checkSpawn(component, options, spawnChecks(core));
  const loaded = core.loader.load(c.info, c.bytes);
  await loaded;
  core.check();
  core.loader.keep(c.bytes, c.info.digest);
  const at = Number(core.services.clock.now());
  let id: string;
  do id = `${c.name}-${randomBytes(3).toString('hex')}`;
  while (core.processes.get(id));
  const record = newRecord(c, id, at);
  const agent = core.agents.create(record);
  agent.component = loaded;
  core.agents.add(agent);
  core.processes.put(record);
  core.journalStore.append(record.id, spawnEntry(record, at));
  await startNow(core, agent);
  core.eventLog.emit('agent.spawned', record.id, {
    digest: record.digest,
    world: record.world,
    grants: record.grants,
  });
  return record.id;
}

/** Starts the first instance at spawn so init errors surface there. */
async function startNow(core: KernelAssembly, agent: AgentRuntime): Promise<void> {
  const err = await core.executor.startFirst(agent);
  if (!err) return;
  const rec = agent.record;
  rec.state = 'terminated';
  rec.lastError = { code: err.code, message: err.message, at: Number(core.services.clock.now()) };
  core.journalStore.append(rec.id, {
    t: 'lifecycle',
    at: rec.lastError.at,
    op: 'terminate',
    detail: err.message,
  });
  core.agents.remove(rec.id);
  core.agents.save(agent);
  throw err;
}
