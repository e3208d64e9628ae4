/**
 * Lifecycle changes of an agent (suspend, resume, terminate, a limit's suspension) and its
 * settings (limits, priority, weight). Each is checked, then saved at once with its journal
 * record and its kernel event.
 *
 * @example
 * lifecycle.transition(agent, ['ready', 'crashed'], 'suspended', 'suspend');
 */

import { AgentOSError } from '../base/errors.js';
import { checkPriority, checkWeight, resolveLimits } from '../base/limits.js';
import type { EventHub } from '../store/events.js';
import type { Journal } from '../store/journal.js';
import type { AgentState } from '../store/process-table.js';
import type { AgentRuntime } from './agent.js';
import type { Agents } from './agents.js';
import type { AgentSettings } from './info.js';

export interface LifecycleDeps {
  agents: Agents;
  journal: Journal;
  events: EventHub;
  now: () => number;
}

export class Lifecycle {
  constructor(private readonly deps: LifecycleDeps) {}

  /** Moves the agent from one of `from` to `to`. @throws AgentOSError AOS_E_BAD_STATE */
  transition(agent: AgentRuntime, from: AgentState[], to: AgentState, op: string): void {
    const state = agent.record.state;
    if (!from.includes(state)) {
      throw new AgentOSError('AOS_E_BAD_STATE', `cannot ${op} ${agent.id}: it is ${state}`, { state });
    }
    this.setState(agent, to, op);
  }

  /**
   * A lifecycle change, saved at once: the new state, its journal record and its event; `why`
   * when a limit caused it (it becomes the agent's last error).
   */
  setState(agent: AgentRuntime, to: AgentState, op: string, why?: AgentOSError): void {
    const rec = agent.record;
    rec.state = to;
    rec.updatedAt = this.deps.now();
    if (why) rec.lastError = { code: why.code, message: why.message, at: rec.updatedAt };
    const detail = why ? { detail: why.message } : {};
    this.deps.journal.append(rec.id, { t: 'lifecycle', at: rec.updatedAt, op, ...detail });
    this.deps.agents.save(agent);
    const event = op === 'resume' ? 'agent.resumed' : `agent.${to}`;
    this.deps.events.emit(event, rec.id, why ? { code: why.code, reason: why.message } : {});
  }

  /** Applies new limits, priority or weight; nothing changes unless every value is valid. */
  configure(agent: AgentRuntime, settings: AgentSettings): void {
    const rec = agent.record;
    const limits = resolveLimits(rec.limits, settings.limits);
    const priority = settings.priority === undefined ? rec.priority : checkPriority(settings.priority);
    const weight = settings.weight === undefined ? rec.weight : checkWeight(settings.weight);
    Object.assign(rec, { limits, priority, weight, updatedAt: this.deps.now() });
    // Journaled, so a replay runs each invocation under the limits it ran under.
    this.deps.journal.append(rec.id, { t: 'settings', at: rec.updatedAt, limits, priority, weight });
    this.deps.agents.save(agent);
  }
}
