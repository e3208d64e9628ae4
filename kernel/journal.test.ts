import { describe, expect, it } from 'vitest';
import { captureLog, fixture, openKernel, PROBE_GRANTS } from '../testing/harness.js';
import type { Kernel } from './kernel.js';
import type { ReadableEntry } from './store/journal.js';

let kernel: Kernel;

type Hostcall = Extract<ReadableEntry, { t: 'hostcall' }>;
type Invoke = Extract<ReadableEntry, { t: 'invoke' }>;
type Outcome = Extract<ReadableEntry, { t: 'outcome' }>;

describe('the journal', () => {
  it('holds every hostcall of a run, with the arguments and results the guest saw', async () => {
    kernel = await openKernel();
    const id = await kernel.spawn(await fixture('probe'), { grants: PROBE_GRANTS, seed: 42 });
    const rnd = (await kernel.send(id, { op: 'random', n: 3, bytes: 4 })) as {
      values: string[];
      bytes: { ok: number[] };
    };
    const clock = (await kernel.send(id, { op: 'clock' })) as { now: string; monotonic: string };
    const wmCalls = [
      ['set', 'a', '1'],
      ['get', 'a'],
      ['get', 'zz'],
      ['list', '', 0],
      ['delete', 'a'],
    ];
    const wm = await kernel.send(id, { op: 'wm', calls: wmCalls });
    const logged = await kernel.send(id, { op: 'log', level: 'warn', message: 'hello', fields: '{"x":1}' });

    const journal = await kernel.journal(id);
    expect(journal.map((e) => e.seq)).toEqual(journal.map((_, i) => i));
    expect(journal[0]).toMatchObject({ t: 'spawn', grants: PROBE_GRANTS, seed: '42', world: 'agent' });
    expect(journal[1]).toMatchObject({ t: 'instance', generation: 1, reason: 'spawn' });
    const calls = journal.filter((e): e is Hostcall => e.t === 'hostcall');
    expect(calls.map((c) => c.fn)).toEqual([
      'random.next-u64',
      'random.next-u64',
      'random.next-u64',
      'random.bytes',
      'clock.now',
      'clock.monotonic',
      'working-memory.set',
      'working-memory.get',
      'working-memory.get',
      'working-memory.list',
      'working-memory.delete',
      'log.write',
    ]);
    expect(calls.slice(0, 3).map((c) => String(c.result))).toEqual(rnd.values);
    expect(calls[3]).toMatchObject({ args: [4], result: new Uint8Array(rnd.bytes.ok) });
    expect(String(calls[4]!.result)).toBe(clock.now);
    expect(String(calls[5]!.result)).toBe(clock.monotonic);
    expect(calls.slice(6, 11).map((c) => [c.args, c.result])).toEqual([
      [['a', '1'], undefined],
      [['a'], '1'],
      [['zz'], undefined],
      [['', 0], ['a']],
      [['a'], true],
    ]);
    expect(wm).toEqual([{ ok: null }, { ok: '1' }, { ok: null }, { ok: ['a'] }, { ok: true }]);
    expect(calls[11]!.args).toEqual(['warn', 'hello', '{"x":1}']);
    for (const c of calls) expect(c.status).toBe(0);
    // Each invocation: its input, then its hostcalls, then its outcome.
    const shape = journal
      .slice(2)
      .map((e) => ({ invoke: 'I', hostcall: 'h', outcome: 'O' })[e.t as string] ?? e.t)
      .join('');
    expect(shape).toBe('IhhhhO' + 'IhhO' + 'IhhhhhO' + 'IhO');
    const invokes = journal.filter((e): e is Invoke => e.t === 'invoke');
    expect(invokes.map((e) => [e.message.kind, JSON.parse(e.message.body)])).toEqual([
      ['text', { op: 'random', n: 3, bytes: 4 }],
      ['text', { op: 'clock' }],
      ['text', { op: 'wm', calls: wmCalls }],
      ['text', { op: 'log', level: 'warn', message: 'hello', fields: '{"x":1}' }],
    ]);
    const outcomes = journal.filter((e): e is Outcome => e.t === 'outcome');
    expect(outcomes.map((e) => [e.messageId, e.result, JSON.parse(e.value)])).toEqual([
      [invokes[0]!.message.id, 'ok', rnd],
      [invokes[1]!.message.id, 'ok', clock],
      [invokes[2]!.message.id, 'ok', wm],
      [invokes[3]!.message.id, 'ok', logged],
    ]);
    for (const o of outcomes) expect(o.fuel).toBeGreaterThan(0);
    const total = Object.values(kernel.inspect(id).stats.hostcalls).reduce((a, b) => a + b, 0);
    expect(total).toBe(calls.length);
  });

  it('records guest-visible errors as results, not faults', async () => {
    kernel = await openKernel();
    const id = await kernel.spawn(await fixture('probe'), { grants: PROBE_GRANTS });
    const out = await kernel.send(id, { op: 'wm', calls: [['get', '']] });
    expect(out).toEqual([{ err: { tag: 'invalid', val: 'working-memory key must be 1..512 bytes, got 0' } }]);
    const calls = (await kernel.journal(id)).filter((e): e is Hostcall => e.t === 'hostcall');
    expect(calls).toEqual([
      expect.objectContaining({
        fn: 'working-memory.get',
        status: 1,
        result: { tag: 'invalid', val: 'working-memory key must be 1..512 bytes, got 0' },
      }),
    ]);
  });

  it('logs one span per hostcall, named <cap>.<fn>, with the agent and the duration', async () => {
    const { lines, logger } = captureLog('debug');
    kernel = await openKernel({ logger });
    const id = await kernel.spawn(await fixture('probe'), { grants: PROBE_GRANTS });
    await kernel.send(id, { op: 'wm', calls: [['get', 'k']] });
    await kernel.send(id, { op: 'clock' });
    const spans = lines.filter((l) => l.msg === 'hostcall');
    expect(spans.map((s) => s.span)).toEqual(['working-memory.get', 'clock.now', 'clock.monotonic']);
    for (const s of spans) {
      expect(s.agent).toBe(id);
      expect(typeof s.us).toBe('number');
    }
  });
});
