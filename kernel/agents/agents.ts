/**
 * The live agents: their runtimes (grants linked, capability views configured), lookup with
 * clear errors, and saving records to the process table — accounting in batches, lifecycle
 * changes at once.
 */

import type { Logger } from 'pino';
import { AgentOSError } from '../base/errors.js';
import type { Limits } from '../base/limits.js';
import type { CapabilityHost } from '../hostcall/capabilities.js';
import { link, parseGrants } from '../hostcall/linker.js';
import { mailboxSeq, type StoredMessage } from '../store/message.js';
import { type AgentRecord, emptyStats, type ProcessTable } from '../store/process-table.js';
import { AgentRuntime, terminated } from './agent.js';
import type { AgentInfo } from './info.js';

/** How long accounting may wait before it is written (one write covers many invocations). */
const SAVE_DELAY_MS = 20;

export class Agents {
  private readonly live = new Map<string, AgentRuntime>();
  private readonly dirty = new Set<AgentRuntime>();
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly processes: ProcessTable,
    private readonly capabilities: CapabilityHost,
    private readonly logger: Logger,
    private readonly home: string,
    /** The kernel's default limits, for records written before agents had their own. */
    private readonly defaults: Limits,
  ) {}

  /** Builds an agent's runtime from its record: grants, links, capability views. */
  create(record: AgentRecord): AgentRuntime {
    const l = this.linksOf(record);
    const agent = new AgentRuntime(record, l.grants, l.plan, l.workerModules);
    this.configure(agent);
    return agent;
  }

  /**
   * Links the agent again after its record's component, imports or grants changed (an upgrade);
   * its capability views are configured afresh from its record (their persisted state included).
   * Nothing changes if the new record does not link.
   */
  relink(agent: AgentRuntime): void {
    const l = this.linksOf(agent.record);
    agent.relink(l.grants, l.plan, l.workerModules);
    this.configure(agent);
  }

  private linksOf(record: AgentRecord) {
    const table = this.capabilities.table;
    const grants = parseGrants(record.grants, table);
    const plan = link(record.imports, grants, table, record.id);
    return { grants, plan, workerModules: this.capabilities.workerModules(plan) };
  }

  private configure(agent: AgentRuntime): void {
    const record = agent.record;
    for (const [name, grant] of agent.grants) {
      const view = this.capabilities.configure(name, record, grant);
      const services = this.capabilities.services(name);
      agent.contexts.set(name, {
        agent: record,
        view,
        services,
        get txn() {
          if (!agent.txn) throw new Error(`${agent.id} has no call in flight to stage effects on`);
          return agent.txn;
        },
      });
    }
  }

  /**
   * Rebuilds the live agents from the process table at open, each with its pending messages. An
   * agent whose component the signing policy no longer admits (`vouch` throws: a key revoked or
   * expired since, a publisher no longer trusted with a capability it holds, bytes changed in the
   * data dir), or whose grants no longer link (a capability was removed), keeps its record and
   * mailbox, is shown crashed with the reason (in memory only: its stored state stays), and is
   * not started; `kernel.terminate` can end it.
   */
  restore(
    pending: (id: string) => StoredMessage[],
    now: () => number,
    vouch: (record: AgentRecord) => void = () => {},
  ): void {
    for (const record of this.processes.all()) {
      if (record.state === 'terminated') continue;
      record.limits ??= structuredClone(this.defaults);
      record.priority ??= 'normal';
      record.weight ??= 1;
      record.stats = { ...emptyStats(), ...record.stats };
      let agent: AgentRuntime;
      try {
        vouch(record);
        agent = this.create(record);
      } catch (e) {
        // Shown as crashed with the reason, but not stored so: the state it was left in (suspended,
        // say) is what it returns to at an open that can restore it.
        const err = e instanceof AgentOSError ? e : new AgentOSError('AOS_E_INTERNAL', String(e));
        record.state = 'crashed';
        record.lastError = { code: err.code, message: `cannot restore: ${err.message}`, at: now() };
        this.logger.error({ agent: record.id, code: err.code }, record.lastError.message);
        continue;
      }
      // Priority first, then arrival (ids increase), as the bus queues them.
      const queued = pending(record.id).sort(
        (a, b) => (a.priority ?? 1) - (b.priority ?? 1) || mailboxSeq(a) - mailboxSeq(b),
      );
      for (const m of queued) agent.queue.push(m);
      this.add(agent);
    }
  }

  add(agent: AgentRuntime): void {
    this.live.set(agent.id, agent);
  }

  remove(id: string): void {
    this.live.delete(id);
  }

  values(): IterableIterator<AgentRuntime> {
    return this.live.values();
  }

  peek(id: string): AgentRuntime | undefined {
    return this.live.get(id);
  }

  /** The live agent `id`, or AOS_E_AGENT_TERMINATED / AOS_E_AGENT_NOT_FOUND. */
  get(id: string): AgentRuntime {
    const agent = this.live.get(id);
    if (agent) return agent;
    const rec = typeof id === 'string' ? this.processes.get(id) : undefined;
    if (rec?.state === 'terminated') throw terminated(id, rec.exported);
    if (rec) {
      throw new AgentOSError(
        'AOS_E_BAD_STATE',
        `agent ${id} could not be restored: ${rec.lastError?.message ?? 'unknown'}`,
        {
          agent: id,
        },
      );
    }
    throw new AgentOSError('AOS_E_AGENT_NOT_FOUND', `no agent ${JSON.stringify(id)} in ${this.home}`, {
      agent: id,
    });
  }

  /** A copy of the agent's record for callers, with its live view (queue, residency). */
  info(rec: AgentRecord): AgentInfo {
    const live = this.live.get(rec.id);
    const { capState: _c, config, ...rest } = rec;
    return {
      ...structuredClone(rest),
      config: JSON.parse(config),
      mailbox: live?.queue.length ?? 0,
      resident: live?.worker != null,
      dormant: live?.dormant ?? false,
      busy: live?.busy ?? false,
      fuelWindow: { start: live?.window.start ?? 0, fuel: live?.window.used ?? 0 },
      running: null,
      checkpoints: [],
    };
  }

  /**
   * Saves the record now (lifecycle), or within SAVE_DELAY_MS (`soon`: accounting). A change in
   * capability state (e.g. the random generator's position) is always saved now, so a restart
   * never hands out the same random numbers again.
   */
  save(agent: AgentRuntime, soon = false): void {
    const rec = agent.record;
    let changed = false;
    for (const [name, ctx] of agent.contexts) {
      const cap = this.capabilities.get(name)!;
      if (!cap.persist) continue;
      const value = cap.persist(ctx.view);
      if (value !== rec.capState[name]) {
        rec.capState[name] = value;
        changed = true;
      }
    }
    if (soon && !changed) {
      this.dirty.add(agent);
      this.timer ??= setTimeout(() => this.saveDirty(), SAVE_DELAY_MS);
      return;
    }
    this.dirty.delete(agent);
    this.processes.put(rec);
  }

  /** Writes every record waiting to be saved. */
  saveDirty(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const agent of [...this.dirty]) this.save(agent);
  }
}
