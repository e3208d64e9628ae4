/**
 * `kernel.export(id)`: the agent, moved out of this kernel into a portable bundle
 * (replay/agent-bundle.ts) that `Kernel.import` continues anywhere. The agent is held (no new call
 * starts), its call in flight ends, and its state is taken as a checkpoint: its resident
 * instance's, or the one it goes dormant with, or (after a restart, before its next message) its
 * heap rebuilt first, as its next message would. Its capability state, its kept checkpoints, its
 * journal's tail after the oldest one and the messages queued for it go into the bundle; then it
 * is terminated here, marked exported: what is sent to it is refused with AOS_E_AGENT_EXPORTED,
 * and whoever waited on a queued message is told so.
 *
 * A crashed agent is exported as it is: where it is imported, its next message (or `resume`)
 * rebuilds its heap from the bundled checkpoint and journal, as it would have here.
 *
 * @example
 * writeFileSync('counter.bundle', await kernel.export(id));
 */
import { createHash } from 'node:crypto';
import { terminated } from './agents/agent.js';
import type { KernelAssembly } from './assembly.js';
import { writeFileOrRefuse } from './base/atomic-write.js';
import { AgentOSError } from './base/errors.js';
import { agentosVersion } from './base/paths.js';
import { checkAgentId, checkPathOption } from './base/validate.js';
import { type AgentBundleContents, type BundledMessage, encodeAgentBundle } from './replay/agent-bundle.js';

/**
 * `file`: the bundle is written there (and synced to disk) before the agent leaves; if it cannot
 * be, the agent stays. @throws AgentOSError AOS_E_AGENT_NOT_FOUND, AOS_E_AGENT_TERMINATED,
 * AOS_E_BAD_STATE, AOS_E_BAD_ARGUMENT (options, or the file cannot be written), the restart's error
 */
export async function exportAgent(
  core: KernelAssembly,
  id: string,
  options: { file?: string } = {},
): Promise<Buffer> {
  core.check();
  checkAgentId(id);
  checkPathOption(options, 'file', 'export');
  const agent = core.agents.get(id);
  agent.assertLive();
  await agent.hold('export');
  try {
    await agent.idle();
    core.check();
    agent.assertLive();
    const rec = agent.record;
    if (agent.worker === null && !agent.dormant && rec.state !== 'crashed' && rec.generation > 0) {
      // Not resident since the kernel opened: its heap is rebuilt now, as its next message would.
      const err = await core.executor.startFirst(agent, 'restart');
      if (err) throw err;
    }
    const snapshot = await core.executor.snapshotOf(agent);
    if (snapshot) core.checkpointing.keep(agent, snapshot);
    core.agents.save(agent); // its capability state as of now
    await core.store.flushed();

    const checkpoints = core.checkpoints.all(id);
    const journal = core.journalStore;
    const entries = checkpoints[0]
      ? [...journal.entries(id, 0, 1), ...journal.entries(id, checkpoints[0].seq + 1)]
      : [...journal.entries(id)];
    if (checkpoints.length === 0 && entries.some((e, i) => e.seq !== i))
      throw new AgentOSError(
        'AOS_E_BAD_STATE',
        `${id}'s journal was pruned and no checkpoint is kept: nothing could continue it elsewhere`,
        { agent: id },
      );
    const components: Record<string, Uint8Array> = {};
    const want = (digest: string): void => {
      components[digest] ??= core.loader.stored(digest);
    };
    want(rec.digest);
    for (const e of entries) if (e.t === 'spawn' || e.t === 'upgrade') want(e.digest);
    for (const c of checkpoints) want(c.digest);
    const messages: BundledMessage[] = agent.queue.slice().map((m) => ({
      kind: m.kind,
      body: m.body,
      ...(m.priority === undefined ? {} : { priority: m.priority }),
    }));
    const contents: AgentBundleContents = {
      exportedAt: Date.now(),
      agentos: agentosVersion(),
      record: structuredClone(rec),
      capabilities: core.capabilities.exportState(id),
      components,
      checkpoints,
      entries,
      next: journal.peek(id),
      messages,
    };
    const bundle = encodeAgentBundle(contents);
    if (options.file !== undefined)
      writeFileOrRefuse(options.file, bundle, 'bundle', `${id} stays here`, { agent: id });
    leave(core, id, createHash('sha256').update(bundle).digest('hex'), contents.exportedAt);
    await core.store.flushed();
    return bundle;
  } finally {
    agent.unhold();
  }
}

/** The agent is gone from here: terminated, marked exported, its queued messages with it. */
function leave(core: KernelAssembly, id: string, bundle: string, at: number): void {
  const agent = core.agents.get(id);
  agent.record.exported = { at, bundle };
  core.transition(id, ['ready', 'suspended', 'crashed'], 'terminated', 'export');
  // Moved, not refused: whoever waited is told where the message went (`details.moved`).
  const moved = terminated(id, agent.record.exported);
  core.executor.dropQueued(
    agent,
    0,
    new AgentOSError('AOS_E_AGENT_EXPORTED', `${moved.message}; the message went with it, queued`, {
      agent: id,
      moved: true,
    }),
  );
  core.agents.remove(id);
  core.executor.release(agent);
  core.forget(id);
}
