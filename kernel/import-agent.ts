/**
 * `kernel.import(bundle)`: an agent another kernel exported (export-agent.ts) continues here, with its
 * id, its record, its capability state, its heap (the bundle's newest checkpoint), its journal's
 * tail and the messages that were queued for it. Everything is checked before anything is
 * stored: the bundle (replay/agent-bundle.ts), every component against this data dir's signing policy,
 * the agent's component, grants and settings with every check of a spawn (this kernel must offer
 * what it was granted, and grant it the same), and that no agent here has its id. Its instance
 * then starts from the checkpoint, so that a state this kernel cannot run is refused at import;
 * if it does not start, everything stored for it goes again.
 *
 * A crashed agent is imported crashed, with no instance: its next message (or `resume`)
 * rebuilds its heap from the checkpoint and journal (exec/recovery.ts), as it would have there.
 *
 * @example
 * const { id } = await kernel.import('counter.bundle');
 * await kernel.send(id, { by: 1 });   // counts on from where it was exported
 */
import { readFileSync } from 'node:fs';
import type { KernelAssembly } from './assembly.js';
import { AgentOSError } from './base/errors.js';
import { validateMessage } from './base/validate.js';
import { BUILD, type LoadedComponent, sha256 } from './loader/loader.js';
import { type AgentBundleContents, decodeAgentBundle, wholeJournal } from './replay/agent-bundle.js';
import { readManifest } from './signing/manifest.js';
import { spawnChecks } from './spawn.js';
import { checkSpawn } from './spawn-options.js';
import type { AgentState } from './store/process-table.js';

export interface Imported {
  id: string;
  state: AgentState;
  /** The journal entry its heap was restored from (its newest checkpoint), or null: none started. */
  checkpoint: number | null;
  /** Messages that were queued for it, now in its mailbox here. */
  messages: number;
}

/** @throws AgentOSError AOS_E_BAD_BUNDLE, AOS_E_AGENT_EXISTS, the signing policy's and spawn's refusals, the instance's start error */
export async function importAgent(core: KernelAssembly, bundle: string | Uint8Array): Promise<Imported> {
  core.check();
  const what = typeof bundle === 'string' ? bundle : 'the bundle';
  let bytes: Uint8Array;
  if (typeof bundle === 'string') {
    try {
      bytes = readFileSync(bundle);
    } catch (e) {
      throw new AgentOSError('AOS_E_COMPONENT_NOT_FOUND', `cannot read ${what}: ${(e as Error).message}`);
    }
  } else if (bundle instanceof Uint8Array) bytes = bundle;
  else throw new AgentOSError('AOS_E_BAD_ARGUMENT', 'import takes a path or the bundle bytes');
  const b = decodeAgentBundle(bytes, what);
  const rec = b.record;
  const id = rec.id;
  // An agent that left this data dir may come back: its record here is only history.
  const left = (): boolean => {
    const here = core.processes.get(id);
    return here?.state === 'terminated' && here.exported !== undefined;
  };
  const exists = (): void => {
    if (core.processes.get(id) && !left())
      throw new AgentOSError(
        'AOS_E_AGENT_EXISTS',
        `this data dir already has an agent ${id} (${core.processes.get(id)!.state}); nothing was imported`,
        { agent: id },
      );
  };
  exists();
  const { loaded } = await admitAll(core, b, what);
  core.check();
  exists(); // another import of it may have finished meanwhile

  const newest = b.checkpoints.at(-1);
  const usable = newest !== undefined && newest.digest === rec.digest && newest.build === BUILD;
  if (newest && !usable && !wholeJournal(b))
    throw new AgentOSError(
      'AOS_E_BAD_STATE',
      `${what}: ${id}'s state was taken by another AgentOS build (${newest.build}; this one is ${BUILD}) and its journal before it is not in the bundle: import it into a kernel of that build`,
      { agent: id },
    );
  if (left()) {
    // Its history here goes: the bundle's journal carries on from where it was exported.
    await core.store.flushed();
    core.journalStore.remove(id);
    core.processes.remove(id);
  }
  const at = Number(core.services.clock.now());
  delete rec.exported;
  Object.assign(rec, { updatedAt: at, lastError: rec.lastError ?? null });
  const agent = core.agents.create(rec);
  agent.component = loaded;
  core.agents.add(agent);
  let checkpoint: number | null = null;
  try {
    core.processes.put(rec);
    core.journalStore.restore(id, b.entries, b.next);
    for (const c of b.checkpoints) core.checkpoints.put(id, c);
    core.capabilities.importState(id, b.capabilities);
    if (rec.state !== 'crashed' && usable) {
      const err = await core.executor.startFirst(agent, 'import', newest.bytes);
      if (err) throw err;
      checkpoint = newest.seq;
    }
    // The source had taken them: they go in whatever room its mailbox limit leaves now.
    for (const m of b.messages)
      core.bus.deliver(
        id,
        null,
        { kind: m.kind, body: m.body, ...(m.priority === undefined ? {} : { priority: m.priority }) },
        { moved: true },
      );
  } catch (e) {
    await undo(core, id);
    throw e;
  }
  for (const [digest, component] of Object.entries(b.components)) core.loader.keep(component, digest);
  core.eventLog.emit('agent.spawned', id, {
    digest: rec.digest,
    world: rec.world,
    grants: rec.grants,
    imported: true,
  });
  await core.store.flushed();
  core.executor.wake(agent);
  return { id, state: rec.state, checkpoint, messages: b.messages.length };
}

/**
 * Every bundled component through this data dir's signing policy, and the agent's own through
 * spawn's checks with its grants and settings: it must run here as it ran there.
 */
async function admitAll(
  core: KernelAssembly,
  b: AgentBundleContents,
  what: string,
): Promise<{ loaded: Promise<LoadedComponent> }> {
  const rec = b.record;
  for (const [digest, component] of Object.entries(b.components)) {
    if (digest === rec.digest) continue;
    const label = `${what}: component ${digest.slice(0, 12)}…`;
    core.policy.admit(component, sha256(component), readManifest(component, label), label);
  }
  let config: unknown;
  try {
    config = JSON.parse(rec.config);
  } catch {
    throw new AgentOSError('AOS_E_BAD_BUNDLE', `${what}: the agent's config is not JSON`, { bundle: what });
  }
  const c = await checkSpawn(
    b.components[rec.digest]!,
    {
      grants: rec.provenance?.granted ?? rec.grants,
      config,
      restart: rec.restart,
      seed: rec.seed,
      limits: rec.limits,
      priority: rec.priority,
      weight: rec.weight,
    },
    spawnChecks(core),
  );
  if (c.info.world !== rec.world)
    throw new AgentOSError(
      'AOS_E_WRONG_WORLD',
      `${rec.id} ran as ${rec.world === 'agent' ? 'an agent' : 'a skill'}; its component is not one`,
    );
  const same = (x: string[], y: string[]) => [...x].sort().join() === [...y].sort().join();
  if (!same(c.grants, rec.grants))
    throw new AgentOSError(
      'AOS_E_IMPORT_NOT_GRANTED',
      `${rec.id} ran with ${rec.grants.join(', ') || 'no grants'}; this data dir's trust would grant it ${c.grants.join(', ') || 'none'}`,
      { agent: rec.id },
    );
  // Every queued message as a send here would take it (its size against this kernel's limit).
  for (const m of b.messages) {
    let body: unknown;
    try {
      body = JSON.parse(m.body);
    } catch {
      throw new AgentOSError('AOS_E_BAD_BUNDLE', `${what}: a queued message's body is not JSON`, {
        bundle: what,
      });
    }
    validateMessage(m.kind, body, core.maxMessageBytes);
  }
  // The settings as spawn resolved them: every field the kernel reads is there and in range.
  Object.assign(rec, {
    provenance: c.provenance,
    imports: c.info.imports,
    limits: c.limits,
    priority: c.priority,
    weight: c.weight,
    restart: c.restart,
  });
  // Transpiled before anything is stored: a component this kernel cannot load is refused here.
  const loaded = core.loader.load(c.info, c.bytes);
  await loaded;
  return { loaded };
}

/** Everything stored for the agent goes again: the import did not complete. */
async function undo(core: KernelAssembly, id: string): Promise<void> {
  const agent = core.agents.peek(id);
  core.agents.remove(id);
  if (agent) {
    core.executor.dropQueued(agent, 0);
    core.executor.release(agent);
  }
  await core.store.flushed();
  core.journalStore.remove(id);
  core.checkpoints.forget(id);
  core.capabilities.drop(id);
  core.processes.remove(id);
  await core.store.flushed();
}
