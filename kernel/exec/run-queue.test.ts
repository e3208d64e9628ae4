import { describe, expect, it } from 'vitest';
import type { AgentRuntime } from '../agents/agent.js';
import { RunQueue } from './run-queue.js';

/** An agent as the run queue sees it: a class and a virtual time. */
const agent = (id: string, priority: string, vtime: number): AgentRuntime =>
  ({ id, vtime, record: { priority } }) as unknown as AgentRuntime;

const drain = (q: RunQueue): string[] => {
  const out: string[] = [];
  for (let e = q.pop(); e; e = q.pop()) out.push(e.agent.id);
  return out;
};

describe('RunQueue', () => {
  it('gives class first, then the least virtual time, then who came first', () => {
    const q = new RunQueue();
    q.add(agent('batch-0', 'batch', 0));
    q.add(agent('normal-5', 'normal', 5));
    q.add(agent('normal-1a', 'normal', 1));
    q.add(agent('interactive-9', 'interactive', 9));
    q.add(agent('normal-1b', 'normal', 1));
    q.add(agent('idle-0', 'idle', 0));
    expect(q.size).toBe(6);
    expect(q.peek()?.id).toBe('interactive-9');
    expect(drain(q)).toEqual(['interactive-9', 'normal-1a', 'normal-1b', 'normal-5', 'batch-0', 'idle-0']);
    expect(q.size).toBe(0);
    expect(q.pop()).toBeUndefined();
  });

  it('queues an agent once, skips a deleted one, and queues it again behind the others', () => {
    const q = new RunQueue();
    const a = agent('a', 'normal', 0);
    const b = agent('b', 'normal', 0);
    q.add(a);
    q.add(a);
    q.add(b);
    expect(q.size).toBe(2);
    q.delete(a);
    expect(q.has(a)).toBe(false);
    expect(q.peek()?.id).toBe('b');
    q.add(a); // a new arrival: behind b among equals, its stale entry never comes up
    expect(drain(q)).toEqual(['b', 'a']);
  });

  it('puts a popped agent back in the place it had', () => {
    const q = new RunQueue();
    for (const id of ['a', 'b', 'c']) q.add(agent(id, 'normal', 0));
    const first = q.pop()!;
    expect(first.agent.id).toBe('a');
    q.add(agent('d', 'normal', 0));
    q.putBack(first);
    q.putBack(first); // once only
    expect(drain(q)).toEqual(['a', 'b', 'c', 'd']);
  });

  it('keeps heap order over many agents added and taken in any order', () => {
    const q = new RunQueue();
    let seed = 7;
    const rand = (): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const all = Array.from({ length: 5000 }, (_, i) => agent(`x${i}`, 'normal', Math.floor(rand() * 100)));
    for (const a of all) q.add(a);
    for (const a of all.slice(0, 1000)) q.delete(a);
    const out: number[] = [];
    for (let e = q.pop(); e; e = q.pop()) out.push(e.vtime);
    expect(out).toHaveLength(4000);
    expect(out).toEqual([...out].sort((x, y) => x - y));
  });
});
