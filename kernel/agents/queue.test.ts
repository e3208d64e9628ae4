import { describe, expect, it } from 'vitest';
import { MessageQueue } from './queue.js';

describe('MessageQueue', () => {
  it('is FIFO with inserts, cuts and copies, across compactions', () => {
    const q = new MessageQueue<number>();
    for (let i = 0; i < 5000; i++) q.push(i);
    for (let i = 0; i < 3000; i++) expect(q.shift()).toBe(i); // compacts along the way
    expect(q.length).toBe(2000);
    expect(q.head).toBe(3000);
    q.insert(1, -1);
    expect(q.slice().slice(0, 3)).toEqual([3000, -1, 3001]);
    expect(q.at(1)).toBe(-1);
    expect(q.at(-1)).toBeUndefined();
    expect(q.at(q.length)).toBeUndefined();
    expect(q.some((x) => x === 4999)).toBe(true);
    expect(q.cut(2)).toHaveLength(1999);
    expect([...q]).toEqual([3000, -1]);
    q.shift();
    q.shift();
    expect(q.shift()).toBeUndefined();
    expect(q.length).toBe(0);
  });
});
