/**
 * The run queue: agents with work waiting for a CPU permit, one binary heap per priority class
 * ordered by virtual time (ties: who queued first). Adding, taking the best and dropping an
 * agent cost O(log n) however many agents wait, so a pump looks only at the agents it takes.
 *
 * An agent is queued at most once. `delete` is lazy: the entry stays in its heap and is skipped
 * when it comes up. An agent's class or virtual time does not change while it waits (both change
 * only while it runs), so an entry's key stays true.
 *
 * @example
 * const q = new RunQueue();
 * q.add(agent);               // no-op if queued
 * const next = q.pop();       // the best waiting agent and its place, or undefined
 * q.putBack(next!);           // it could not go now: back where it was
 */
import type { AgentRuntime } from '../agents/agent.js';
import { PRIORITIES } from '../base/limits.js';

/** A queued agent and its place: its virtual time when queued, then the order it came in. */
export interface Queued {
  readonly agent: AgentRuntime;
  readonly vtime: number;
  readonly seq: number;
}

const earlier = (a: Queued, b: Queued): boolean =>
  a.vtime < b.vtime || (a.vtime === b.vtime && a.seq < b.seq);

/** A binary min-heap of entries. */
class Heap {
  private readonly items: Queued[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): Queued | undefined {
    return this.items[0];
  }

  push(e: Queued): void {
    const a = this.items;
    a.push(e);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!earlier(e, a[parent]!)) break;
      a[i] = a[parent]!;
      i = parent;
    }
    a[i] = e;
  }

  pop(): Queued | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length === 0 || !last) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= a.length) break;
      const r = l + 1;
      const child = r < a.length && earlier(a[r]!, a[l]!) ? r : l;
      if (!earlier(a[child]!, last)) break;
      a[i] = a[child]!;
      i = child;
    }
    a[i] = last;
    return top;
  }
}

export class RunQueue {
  private readonly heaps = PRIORITIES.map(() => new Heap());
  private readonly queued = new Map<AgentRuntime, Queued>();
  private seq = 0;

  /** Agents waiting. */
  get size(): number {
    return this.queued.size;
  }

  has(agent: AgentRuntime): boolean {
    return this.queued.has(agent);
  }

  /** Queues the agent at its current virtual time, behind its equals. No-op if it is queued. */
  add(agent: AgentRuntime): void {
    if (!this.queued.has(agent)) this.enter({ agent, vtime: agent.vtime, seq: this.seq++ });
  }

  /** Queues again an agent `pop` took that could not go, in the place it had. */
  putBack(e: Queued): void {
    if (!this.queued.has(e.agent)) this.enter(e);
  }

  /** Drops the agent from the queue (its entry is skipped when it comes up). */
  delete(agent: AgentRuntime): void {
    this.queued.delete(agent);
  }

  /** The best waiting agent, taken off the queue: the first class with any, the least vtime. */
  pop(): Queued | undefined {
    for (const heap of this.heaps) {
      for (let e = heap.pop(); e; e = heap.pop()) {
        if (this.queued.get(e.agent) !== e) continue; // deleted, or queued again since
        this.queued.delete(e.agent);
        return e;
      }
    }
    return undefined;
  }

  /** The agent `pop` would return, left queued. */
  peek(): AgentRuntime | undefined {
    for (const heap of this.heaps) {
      for (let e = heap.peek(); e; e = heap.peek()) {
        if (this.queued.get(e.agent) === e) return e.agent;
        heap.pop();
      }
    }
    return undefined;
  }

  private enter(e: Queued): void {
    this.queued.set(e.agent, e);
    this.heaps[Math.max(0, PRIORITIES.indexOf(e.agent.record.priority))]!.push(e);
  }
}
