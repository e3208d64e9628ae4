import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { codeOf } from '../testing/expect-error.js';
import { fixture, openKernel, sample } from '../testing/harness.js';
import type { Kernel } from './kernel.js';

let kernel: Kernel;

describe('spawn and send', () => {
  it('runs the embedding example: echo answers with its message', async () => {
    kernel = await openKernel();
    const id = await kernel.spawn(await sample('echo'), { grants: ['log', 'working-memory'] });
    expect(id).toMatch(/^echo-[0-9a-f]{6}$/);
    expect(await kernel.send(id, { text: 'hi' })).toEqual({ text: 'hi' });
    expect(kernel.inspect(id)).toMatchObject({
      state: 'ready',
      world: 'agent',
      resident: true,
      stats: { invocations: 1 },
    });
  });

  it('keeps FIFO order per agent and runs agents side by side', async () => {
    kernel = await openKernel();
    const a = await kernel.spawn(await sample('counter'), { grants: ['log', 'working-memory'] });
    const b = await kernel.spawn(await sample('counter'), { grants: ['log', 'working-memory'] });
    const outs = await Promise.all([
      ...[1, 2, 3, 4, 5].map((by) => kernel.send(a, { by })),
      ...[10, 20].map((by) => kernel.send(b, { by })),
    ]);
    expect(outs).toEqual([
      { count: 1 },
      { count: 3 },
      { count: 6 },
      { count: 10 },
      { count: 15 },
      { count: 10 },
      { count: 30 },
    ]);
  });

  it('calls skill tools and lists them', async () => {
    kernel = await openKernel();
    const s = await kernel.spawn(await sample('text-stats'));
    const tools = await kernel.describe(s);
    expect(tools.map((t) => t.name)).toEqual(['stats', 'top-words']);
    expect(tools[0]!.inputSchema).toMatchObject({ type: 'object', required: ['text'] });
    expect(await kernel.invoke(s, 'stats', { text: 'One two. Three!' })).toEqual({
      chars: 15,
      words: 3,
      lines: 1,
      sentences: 2,
      avgWordLength: 3.67,
    });
    expect(await codeOf(kernel.invoke(s, 'nope', { text: '' }))).toMatch(
      /^AOS_E_AGENT_ERROR: text-stats-\w+ returned not-found: no tool "nope"/,
    );
    expect(await codeOf(kernel.send(s, { text: 'x' }))).toMatch(/^AOS_E_WRONG_WORLD: .* is a skill/);
  });

  it('passes config to init', async () => {
    kernel = await openKernel();
    const id = await kernel
      .spawn(await fixture('probe'), {
        grants: ['log', 'clock', 'random', 'working-memory'],
        config: { failInit: 'no database configured' },
      })
      .catch((e: Error) => e);
    expect(String(id)).toMatch(
      /AOS_E_INIT_FAILED: probe-[\w-]+: init returned invalid: no database configured/,
    );
    expect(kernel.list()[0]).toMatchObject({ state: 'terminated', lastError: { code: 'AOS_E_INIT_FAILED' } });
  });

  it('returns a handler error as AOS_E_AGENT_ERROR and keeps the instance', async () => {
    kernel = await openKernel();
    const id = await kernel.spawn(await fixture('probe'), {
      grants: ['log', 'clock', 'random', 'working-memory'],
    });
    await kernel.send(id, { op: 'echo' });
    expect(await codeOf(kernel.send(id, { op: 'fail', reason: 'not today' }))).toMatch(
      /AOS_E_AGENT_ERROR: probe-[\w-]+ returned denied: not today/,
    );
    expect(await kernel.send(id, { op: 'state' })).toEqual({ handled: 3 });
    expect(kernel.inspect(id).stats).toMatchObject({ invocations: 3, errors: 1, crashes: 0 });
  });
});

describe('bad input to spawn is refused with a coded error and stores nothing', () => {
  it('refuses each kind of bad component', async () => {
    kernel = await openKernel();
    const keep = await kernel.spawn(await sample('counter'), { grants: ['log', 'working-memory'] });
    await kernel.send(keep, { by: 7 });
    const echo = readFileSync(await sample('echo'));
    const cases: [() => Promise<unknown>, RegExp][] = [
      [() => kernel.spawn(randomBytes(1000)), /^AOS_E_NOT_WASM/],
      [() => kernel.spawn(echo.subarray(0, 5000)), /^AOS_E_TRUNCATED/],
      [() => kernel.spawn(new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0])), /^AOS_E_NOT_COMPONENT/],
      [
        () => kernel.spawn('/no/such/file.wasm'),
        /^AOS_E_COMPONENT_NOT_FOUND: cannot read \/no\/such\/file.wasm/,
      ],
      [
        async () => kernel.spawn(await fixture('unknown-import')),
        /^AOS_E_UNKNOWN_IMPORT: .* imports example:evil\/net@1.0.0/,
      ],
      [
        async () => kernel.spawn(await fixture('needs-semantic-memory'), { grants: ['log'] }),
        /^AOS_E_CAPABILITY_UNAVAILABLE: .* imports agentos:kernel\/semantic-memory@0.1.0/,
      ],
      [
        async () => kernel.spawn(await fixture('probe'), { grants: ['log'] }),
        // Each import not granted is named, in one error.
        /^AOS_E_IMPORT_NOT_GRANTED: .* is refused for 3 problems:\n {2}AOS_E_IMPORT_NOT_GRANTED: .* imports agentos:kernel\/clock@0.1.0 but was not granted clock \(granted: log\)\n.*random.*\n.*working-memory/,
      ],
      [() => kernel.spawn(echo, { grants: ['log', 'network'] }), /^AOS_E_UNKNOWN_CAPABILITY/],
      [() => kernel.spawn(echo, { grants: ['log:loud'] }), /^AOS_E_BAD_CONFIG: grant "log:loud"/],
      [
        () => kernel.spawn(echo, { grants: ['log'], config: 10n }),
        /^AOS_E_BAD_CONFIG: config is not JSON-serialisable/,
      ],
      [() => kernel.spawn(echo, { grants: ['log'], seed: -1 }), /^AOS_E_BAD_CONFIG: seed must fit in a u64/],
      [
        () => kernel.spawn(echo, { grants: ['log'], restart: 'sometimes' as 'never' }),
        /^AOS_E_BAD_CONFIG: restart must be/,
      ],
    ];
    for (const [f, re] of cases) expect(await codeOf(f)).toMatch(re);
    expect(kernel.list().map((a) => a.id)).toEqual([keep]);
    expect(await kernel.send(keep, { by: 1 })).toEqual({ count: 8 });
  });
});

describe('bad messages are refused before they are stored', () => {
  it('refuses each kind of bad message with a coded error', async () => {
    kernel = await openKernel({ maxMessageBytes: 1000 });
    const id = await kernel.spawn(await sample('echo'), { grants: ['log'] });
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    expect(await codeOf(kernel.send(id, undefined))).toMatch(
      /^AOS_E_BAD_MESSAGE: message body must be a JSON value, got undefined/,
    );
    expect(await codeOf(kernel.send(id, () => 1))).toMatch(/^AOS_E_BAD_MESSAGE/);
    expect(await codeOf(kernel.send(id, { n: 1n }))).toMatch(
      /^AOS_E_BAD_MESSAGE: message body is not JSON-serialisable/,
    );
    expect(await codeOf(kernel.send(id, circular))).toMatch(/^AOS_E_BAD_MESSAGE/);
    expect(await codeOf(kernel.send(id, 'x'.repeat(2000)))).toMatch(
      /^AOS_E_MESSAGE_TOO_LARGE: message body is 2002 bytes of JSON; the limit is 1000/,
    );
    expect(await codeOf(kernel.send(id, {}, { kind: '' }))).toMatch(/^AOS_E_BAD_MESSAGE: message kind/);
    expect(await codeOf(kernel.send('nobody-000000', {}))).toMatch(/^AOS_E_AGENT_NOT_FOUND/);
    expect(await codeOf(kernel.invoke(id, 'stats', {}))).toMatch(/^AOS_E_WRONG_WORLD/);
    expect(kernel.mailbox(id)).toEqual([]);
    expect(await kernel.send(id, 'still fine')).toBe('still fine');
  });

  it('refuses bodies and tool arguments that JSON would change, and values nested too deep', async () => {
    kernel = await openKernel();
    const id = await kernel.spawn(await sample('echo'), { grants: ['log'] });
    const skill = await kernel.spawn(await sample('text-stats'));
    let deep: unknown = [];
    for (let i = 0; i < 100_000; i++) deep = [deep];
    const bodies: [unknown, RegExp][] = [
      [
        { n: Number.NaN },
        /^message body is not JSON-serialisable: NaN \(JSON has no such number: it would arrive as null\) at \.n$/,
      ],
      [[Number.POSITIVE_INFINITY], /^message body is not JSON-serialisable: Infinity .* at \[0\]$/],
      [Number.NEGATIVE_INFINITY, /^message body is not JSON-serialisable: -Infinity /],
      [
        { text: 'a\ud800b' },
        /^message body is not JSON-serialisable: a string with a lone surrogate U\+D800 .* at \.text$/,
      ],
      [{ 'k\udc00': 1 }, /^message body is not JSON-serialisable: a key with a lone surrogate U\+DC00/],
      [deep, /^message body is not JSON-serialisable: nesting deeper than 1000 levels at (\[0\]){1000}$/],
    ];
    for (const [body, re] of bodies) {
      for (const f of [() => kernel.send(id, body), () => kernel.post(id, body)]) {
        const e = await (async () => f())().catch((err: unknown) => err);
        expect(e).toMatchObject({ code: 'AOS_E_BAD_MESSAGE' });
        expect((e as Error).message).toMatch(re);
      }
      const e = await kernel.invoke(skill, 'stats', { text: body }).catch((err: unknown) => err);
      expect(e).toMatchObject({ code: 'AOS_E_BAD_MESSAGE' });
      expect((e as Error).message).toMatch(/^arguments of stats is not JSON-serialisable: /);
    }
    expect(kernel.mailbox(id)).toEqual([]);
    expect(kernel.mailbox(skill)).toEqual([]);
    // A surrogate pair is a character like any other.
    expect(await kernel.send(id, { text: '😀' })).toEqual({ text: '😀' });
  });
});

describe('bad arguments of the API are AOS_E_BAD_ARGUMENT', () => {
  it('journal, requeue and purgeDeadLetters check theirs', async () => {
    kernel = await openKernel();
    const id = await kernel.spawn(await sample('echo'), { grants: ['log'] });
    const cases: [() => Promise<unknown>, RegExp][] = [
      [
        () => kernel.requeue(id, undefined as unknown as number),
        /^messageId must be a whole number, got undefined$/,
      ],
      [() => kernel.requeue(id, -1), /^messageId must be a whole number, got -1$/],
      [
        () => kernel.requeue(undefined as unknown as string, 1),
        /^the agent id must be a non-empty string, got undefined$/,
      ],
      [() => kernel.journal(id, { from: -1 }), /^from must be a whole number, got -1$/],
      [() => kernel.journal(id, { limit: 1.5 }), /^limit must be a whole number, got 1.5$/],
      [
        () => kernel.journal(id, { from: '3' as unknown as number }),
        /^from must be a whole number, got "3"$/,
      ],
      [() => kernel.journal(id, null as unknown as { from?: number }), /^journal options must be an object$/],
      [() => kernel.journal(42 as unknown as string), /^the agent id must be a non-empty string, got 42$/],
      [() => kernel.purgeDeadLetters('', [1]), /^the agent id must be a non-empty string, got ""$/],
      [() => kernel.purgeDeadLetters(id, 3 as unknown as number[]), /^messageIds must be an array/],
      [
        () => kernel.purgeDeadLetters(id, [1, Number.NaN]),
        /^messageIds\[1\] must be a whole number, got NaN$/,
      ],
    ];
    for (const [f, re] of cases) {
      const e = await f().catch((err: unknown) => err);
      expect(e).toMatchObject({ code: 'AOS_E_BAD_ARGUMENT' });
      expect((e as Error).message).toMatch(re);
    }
    // Well-formed arguments still get their own answers.
    expect(await kernel.requeue(id, 12345).catch((e: { code: string }) => e.code)).toBe(
      'AOS_E_DEAD_LETTER_NOT_FOUND',
    );
    expect((await kernel.journal(id, { from: 0, limit: 1 })).map((e) => e.t)).toEqual(['spawn']);
    expect(await kernel.purgeDeadLetters(id, [])).toBe(0);
  });
});

describe('lifecycle', () => {
  it('suspends (messages queue), resumes (delivered in order) and terminates', async () => {
    kernel = await openKernel();
    const id = await kernel.spawn(await sample('counter'), { grants: ['log', 'working-memory'] });
    kernel.suspend(id);
    expect(kernel.inspect(id).state).toBe('suspended');
    const pending = [1, 2, 3].map((by) => kernel.send(id, { by }));
    // Another agent's message sent after them is handled: the kernel was free to deliver, and
    // still kept the suspended agent's messages queued.
    const other = await kernel.spawn(await sample('echo'), { grants: ['log'] });
    expect(await kernel.send(other, 'after')).toBe('after');
    expect(kernel.mailbox(id).map((m) => m.body)).toEqual(['{"by":1}', '{"by":2}', '{"by":3}']);
    kernel.resume(id);
    expect(await Promise.all(pending)).toEqual([{ count: 1 }, { count: 3 }, { count: 6 }]);
    kernel.suspend(id);
    const dropped = codeOf(kernel.send(id, { by: 100 }));
    await kernel.terminate(id);
    expect(await dropped).toMatch(/^AOS_E_AGENT_TERMINATED: agent counter-\w+ is terminated/);
    expect(kernel.inspect(id)).toMatchObject({ state: 'terminated', mailbox: 0 });
    expect(await codeOf(kernel.send(id, {}))).toMatch(/^AOS_E_AGENT_TERMINATED/);
    expect(await codeOf(() => kernel.resume(id))).toMatch(/^AOS_E_AGENT_TERMINATED/);
    const journal = await kernel.journal(id);
    expect(journal.filter((e) => e.t === 'lifecycle').map((e) => (e as { op: string }).op)).toEqual([
      'suspend',
      'resume',
      'suspend',
      'terminate',
    ]);
  });

  it('stops waiting after timeoutMs, and still handles the message later', async () => {
    kernel = await openKernel();
    const id = await kernel.spawn(await sample('counter'), { grants: ['log', 'working-memory'] });
    kernel.suspend(id);
    expect(await codeOf(kernel.send(id, { by: 3 }, { timeoutMs: 30 }))).toMatch(
      /^AOS_E_TIMED_OUT: no outcome from counter-\w+ within 30 ms; message \d+ stays in its mailbox/,
    );
    expect(kernel.mailbox(id)).toHaveLength(1);
    kernel.resume(id);
    expect(await kernel.send(id, { by: 1 }, { timeoutMs: 5000 })).toEqual({ count: 4 });
    expect(await codeOf(kernel.send(id, {}, { timeoutMs: -1 }))).toMatch(/^AOS_E_BAD_ARGUMENT: timeoutMs/);
  });

  it('refuses transitions that do not apply', async () => {
    kernel = await openKernel();
    const id = await kernel.spawn(await sample('echo'), { grants: ['log'] });
    expect(await codeOf(() => kernel.resume(id))).toMatch(
      /^AOS_E_BAD_STATE: cannot resume echo-\w+: it is ready/,
    );
    kernel.suspend(id);
    expect(await codeOf(() => kernel.suspend(id))).toMatch(/^AOS_E_BAD_STATE/);
    expect(await codeOf(() => kernel.suspend('nope'))).toMatch(/^AOS_E_AGENT_NOT_FOUND/);
  });

  it('refuses every call after close', async () => {
    kernel = await openKernel();
    const id = await kernel.spawn(await sample('echo'), { grants: ['log'] });
    await kernel.close();
    expect(await codeOf(kernel.send(id, {}))).toMatch(/^AOS_E_KERNEL_CLOSED/);
    expect(await codeOf(kernel.spawn(await sample('echo')))).toMatch(/^AOS_E_KERNEL_CLOSED/);
  });
});
