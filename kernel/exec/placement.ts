/**
 * Placement: which worker an agent's next call may take. An agent's instance is pinned to its
 * worker; it goes elsewhere (starting a fresh instance there) only when it has none, or when its
 * worker is held by a parked or blocked call that would make it wait.
 *
 * @example
 * const slot = placeOf(agent, pool, scheduler);   // undefined: it must wait
 */
import type { AgentRuntime } from '../agents/agent.js';
import type { WireBudget } from '../worker/protocol.js';
import type { WorkerPool, WorkerSlot } from './pool.js';
import type { Queued } from './run-queue.js';
import type { Running, Scheduler } from './scheduler.js';

/** What a pump looks at: a parked call, or a queued agent admitted with its budget. */
export interface Candidate {
  agent: AgentRuntime;
  parked?: Running;
  budget?: WireBudget;
  queued?: Queued;
}

/**
 * The worker for the agent's next call, without taking it: its own worker when free; a free
 * worker when it has none, or when its worker holds a parked or blocked call (it starts a
 * fresh instance there rather than wait behind it). Undefined: it must wait.
 */
export function placeOf(agent: AgentRuntime, pool: WorkerPool, scheduler: Scheduler): WorkerSlot | undefined {
  const own = agent.worker === null ? undefined : pool.slots.get(agent.worker);
  if (agent.worker !== null && !own) agent.instanceGone(); // its worker died
  if (own && !own.busy) return own;
  return movable(agent, pool, scheduler) ? pool.freeSlot() : undefined;
}

/** Whether the agent may start on any free worker: it has none, or its worker is held. */
export function movable(agent: AgentRuntime, pool: WorkerPool, scheduler: Scheduler): boolean {
  const slot = agent.worker === null ? undefined : pool.slots.get(agent.worker);
  if (!slot?.busy) return true;
  const held = scheduler.running.get(slot.thread);
  return held?.parked === true || held?.blocked === true;
}
