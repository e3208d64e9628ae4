import { describe, expect, it } from 'vitest';
import { AgentOSError } from './errors.js';
import { jsonText, MAX_JSON_DEPTH, toJson } from './json.js';

/** `levels` arrays, each holding the next: [[[...]]]. */
function nested(levels: number): unknown {
  let v: unknown = [];
  for (let i = 1; i < levels; i++) v = [v];
  return v;
}

/** A pseudo-random JSON-ish value (seeded), with what JSON.stringify drops or rewrites. */
function randomValue(seed: number): unknown {
  let s = seed;
  const rand = (n: number): number => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s % n;
  };
  const make = (depth: number): unknown => {
    switch (rand(depth > 4 ? 6 : 10)) {
      case 0:
        return null;
      case 1:
        return rand(2) === 0;
      case 2:
        return rand(1000) / 7 - 50;
      case 3:
        return ['', 'a', 'é ü', '😀 pair', 'line\nbreak', 'q"uote\\'][rand(6)];
      case 4:
        return undefined;
      case 5:
        return new Date(rand(1e9));
      case 6:
      case 7:
        return Array.from({ length: rand(4) }, () => make(depth + 1));
      default: {
        const o: Record<string, unknown> = {};
        for (let i = rand(4); i > 0; i--) o[['k', 'a b', '😀', '0', 'x-y'][rand(5)]! + i] = make(depth + 1);
        return o;
      }
    }
  };
  return make(0);
}

describe('toJson', () => {
  it('writes what JSON.stringify writes for values that round-trip, with and without indent', () => {
    const holes: unknown[] = [undefined, () => 1, Symbol('s')];
    holes[4] = 2;
    const cases: unknown[] = [
      holes,
      { a: 1, b: [true, null, 'x'], c: { d: -0, e: 1e21, f: 1.5e-7 } },
      { u: undefined, f: () => 1, kept: 1 },
      { date: new Date(0), boxed: [Object(1), Object('s'), Object(false)] },
      new Uint8Array([1, 2]),
      { toJSON: (key: string) => `key:${key}` },
      [{}, [], { a: {} }, [[]]],
      'a surrogate pair 😀 is fine',
      { '😀': 'key with a pair' },
    ];
    for (let seed = 1; seed <= 300; seed++) cases.push(randomValue(seed));
    for (const v of cases) {
      expect(toJson(v).text).toBe(JSON.stringify(v));
      expect(toJson(v, { indent: 2 }).text).toBe(JSON.stringify(v, null, 2));
    }
  });

  it('refuses NaN and ±Infinity, naming where they are', () => {
    expect(toJson(Number.NaN).problem).toMatchObject({ path: '', reason: expect.stringMatching(/^NaN/) });
    expect(toJson({ a: [1, Number.POSITIVE_INFINITY] }).problem).toMatchObject({
      path: '.a[1]',
      reason: 'Infinity (JSON has no such number: it would arrive as null)',
    });
    expect(toJson({ 'odd key': { n: Number.NEGATIVE_INFINITY } }).problem?.path).toBe('["odd key"].n');
    // Not strict: written as JSON.stringify writes them.
    expect(toJson([Number.NaN, Number.NEGATIVE_INFINITY], { strict: false }).text).toBe('[null,null]');
  });

  it('refuses strings and keys with a lone surrogate, and accepts pairs', () => {
    for (const s of ['\ud800', 'x\udc00', 'end\ud83d', '\ude00start', '\ud83d\ud83d\ude00']) {
      expect(toJson({ s }).problem, JSON.stringify(s)).toMatchObject({
        path: '.s',
        reason: expect.stringMatching(/^a string with a lone surrogate U\+D[89A-F][0-9A-F]{2}/),
      });
    }
    expect(toJson({ 'k\udfff': 1 }).problem?.reason).toMatch(/^a key with a lone surrogate U\+DFFF/);
    expect(toJson(['\ud83d\ude00']).text).toBe('["😀"]');
  });

  it('refuses BigInts, cycles and conversions that throw; shared references are fine', () => {
    expect(toJson({ n: 1n }).problem?.reason).toMatch(/^a BigInt/);
    const cycle: Record<string, unknown> = { a: [] };
    (cycle.a as unknown[]).push(cycle);
    expect(toJson(cycle).problem).toMatchObject({
      path: '.a[0]',
      reason: 'the value itself again (a cycle)',
    });
    // Found the same way without a depth limit (the CLI's printer), where it is tracked as it goes.
    expect(toJson(cycle, { maxDepth: Number.POSITIVE_INFINITY }).problem?.path).toBe('.a[0]');
    const shared = { x: 1 };
    expect(toJson([shared, shared]).text).toBe('[{"x":1},{"x":1}]');
    const bad = {
      toJSON() {
        throw new Error('no');
      },
    };
    expect(toJson({ bad }).problem?.reason).toBe('a value whose conversion threw: no');
  });

  it('refuses 100,000 levels of nesting cleanly, and writes them when told to', () => {
    const deep = nested(100_000);
    expect(toJson(deep).problem?.reason).toBe(`nesting deeper than ${MAX_JSON_DEPTH} levels`);
    expect(toJson(nested(MAX_JSON_DEPTH)).text).toHaveLength(2 * MAX_JSON_DEPTH);
    const text = toJson(deep, { maxDepth: Number.POSITIVE_INFINITY }).text!;
    expect(text).toBe(`${'['.repeat(100_000)}${']'.repeat(100_000)}`);
  });
});

describe('jsonText', () => {
  it('throws the given code, naming what and where', () => {
    const cases: [unknown, string][] = [
      [undefined, 'body must be a JSON value, got undefined'],
      [() => 1, 'body must be a JSON value, got function'],
      [
        { n: Number.NaN },
        'body is not JSON-serialisable: NaN (JSON has no such number: it would arrive as null) at .n',
      ],
      [{ s: '\ud800' }, 'body is not JSON-serialisable: a string with a lone surrogate U+D800'],
    ];
    for (const [v, start] of cases) {
      let err: unknown;
      try {
        jsonText(v, 'body', 'AOS_E_BAD_MESSAGE');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(AgentOSError);
      expect((err as AgentOSError).code).toBe('AOS_E_BAD_MESSAGE');
      expect((err as AgentOSError).message.startsWith(start), (err as Error).message).toBe(true);
    }
    expect(jsonText({ ok: [1] }, 'config', 'AOS_E_BAD_CONFIG')).toBe('{"ok":[1]}');
  });
});
