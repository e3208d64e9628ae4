/**
 * `kernel.fork(id)`: a new agent that starts where another one is. The source is held for a
 * moment (no new call starts), its call in flight ends, and its idle instance's state is taken
 * (worker/snapshot.ts: every core module's memory and mutable globals); the new agent gets a copy
 * of its record (component, grants, config, limits, seed), of its capability state (the
 * capabilities' `fork` hooks: working memory, the random generator's position), and its first
 * instance starts from that snapshot instead of running init. An agent with no resident instance
 * is forked from its capability state alone: its first instance runs init.
 *
 * The two then go their own ways: the same next message gives both the same answer.
 *
 * @example
 * const twin = await kernel.fork(id);              // 'counter-9f8e7d'
 * await kernel.send(twin, { by: 1 });              // continues from the source's count
 */
import { randomBytes } from 'node:crypto';
import type { KernelAssembly } from './assembly.js';
import { AgentOSError } from './base/errors.js';
import { BUILD } from './loader/loader.js';
import { spawnEntry } from './spawn.js';
import { sanitizeName } from './spawn-options.js';
import { type AgentRecord, emptyStats } from './store/process-table.js';

/** @throws AgentOSError AOS_E_AGENT_NOT_FOUND, AOS_E_AGENT_TERMINATED, AOS_E_BAD_STATE, AOS_E_BAD_ARGUMENT, the new instance's start error */
export async function forkAgent(
  core: KernelAssembly,
  id: string,
  options: { name?: string } = {},
): Promise<string> {
  core.check();
  if (typeof options !== 'object' || options === null)
    throw new AgentOSError('AOS_E_BAD_ARGUMENT', 'fork options must be an object');
  if (options.name !== undefined && typeof options.name !== 'string')
    throw new AgentOSError('AOS_E_BAD_ARGUMENT', 'name must be a string');
  const source = core.agents.get(id);
  source.assertLive();

  let snapshot: Uint8Array | null;
  let seq: number;
  await source.hold('fork');
  try {
    await source.idle();
    core.check();
    source.assertLive();
    core.agents.save(source); // its capability state as of now
    snapshot = await core.executor.snapshotOf(source);
    // A dormant source has no instance: its kept state is where it is.
    const kept = snapshot === null && source.dormant ? core.snapshots.get(id) : undefined;
    if (kept && kept.digest === source.record.digest && kept.build === BUILD) snapshot = kept.bytes;
    seq = core.journalStore.peek(id) - 1;
    // Its capability state, copied while nothing of the source runs.
    const rec = source.record;
    const name = sanitizeName(options.name ?? rec.name);
    let to: string;
    do to = `${name}-${randomBytes(3).toString('hex')}`;
    while (core.processes.get(to));
    const at = Number(core.services.clock.now());
    const record: AgentRecord = {
      ...structuredClone(rec),
      id: to,
      name,
      state: 'ready',
      createdAt: at,
      updatedAt: at,
      generation: 0,
      lastError: null,
      stats: emptyStats(),
    };
    core.capabilities.fork(id, to);
    const agent = core.agents.create(record);
    core.agents.add(agent);
    core.processes.put(record);
    core.journalStore.append(to, spawnEntry(record, at, { agent: id, seq }));
    const err = await core.executor.startFirst(agent, 'fork', snapshot ?? undefined);
    if (err) {
      record.state = 'terminated';
      record.lastError = { code: err.code, message: err.message, at: Number(core.services.clock.now()) };
      core.journalStore.append(to, {
        t: 'lifecycle',
        at: record.lastError.at,
        op: 'terminate',
        detail: err.message,
      });
      core.agents.remove(to);
      core.agents.save(agent);
      throw err;
    }
    // Its first state is its first checkpoint: recovery and replay start there.
    if (snapshot) core.checkpointing.keep(agent, snapshot);
    core.eventLog.emit('agent.spawned', to, {
      digest: record.digest,
      world: record.world,
      grants: record.grants,
      from: id,
    });
    return to;
  } finally {
    source.unhold();
    core.executor.wake(source);
  }
}
