import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../kernel/base/paths.js';
import { agentos, cli, type Run } from '../testing/cli-runner.js';
import { fixture, sample, tempHome } from '../testing/harness.js';

describe('agentos CLI', () => {
  it('inspect prints world, imports, exports, size and sha256', async () => {
    const r = await agentos(['inspect', await sample('echo')]);
    expect(r.code).toBe(0);
    const info = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(info).toMatchObject({
      world: 'agent',
      imports: ['agentos:kernel/log@0.1.0', 'agentos:kernel/types@0.1.0'],
    });
    expect(info.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(info.size).toBeGreaterThan(1_000_000);
    expect((info.exports as { name: string }[]).map((e) => e.name)).toEqual(['init', 'handle']);
  });

  it('build takes --engine and says which it used; an unknown engine is a usage error', async () => {
    const out = join(tempHome(), 'echo.wasm');
    const src = join(packageRoot(), 'components', 'echo', 'index.ts');
    const r = await cli(['build', src, '-o', out, '--engine', 'quickjs']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ engine: 'quickjs', imports: ['agentos:kernel/log@0.1.0'] });
    expect(existsSync(out)).toBe(true);
    const bad = await cli(['build', src, '-o', out, '--engine', 'v8']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--engine must be quickjs or spidermonkey');
  }, 120_000);

  it('run prints the outcome as JSON on stdout and exits 0', async () => {
    const home = tempHome();
    const r = await agentos([
      'run',
      await sample('echo'),
      '--grant',
      'log,clock',
      '--message',
      '{"text":"hi"}',
      '--home',
      home,
    ]);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(r.stdout)).toEqual({ text: 'hi' });
    // The one-shot agent is kept, terminated, with its journal.
    const ps = await agentos(['ps', '--json', '--home', home]);
    expect(JSON.parse(ps.stdout)).toEqual([expect.objectContaining({ name: 'echo', state: 'terminated' })]);
  });

  it('shows metering progress on stderr the first time a component is loaded, and not after', async () => {
    const cache = tempHome('agentos-cli-cache-');
    const echo = await sample('echo');
    const run = (): Promise<Run> =>
      agentos(['run', echo, '--message', '"x"', '--grant', 'log', '--home', tempHome()], {
        AGENTOS_CACHE: cache,
      });
    const first = await run();
    expect(first.code).toBe(0);
    expect(first.stderr).toMatch(
      /^metering component \w+ component\.core\d*\.wasm \(\d+\.\d MB\) for fuel, once per component\n {2}read \(\d+ ms\)\n {2}instrument \(\d+ ms\)\n {2}emit \(\d+ ms\)\n {2}validate \(\d+ ms\)\nmetered component \w+ component\.core\d*\.wasm in \d+ ms\n$/,
    );
    expect(await run()).toMatchObject({ code: 0, stderr: '', stdout: '"x"\n' });
    // Metering a new component takes seconds (a 12 MB SpiderMonkey one 15 s or more on a busy machine).
  }, 180_000);

  it('run calls skill tools, and lists them without --tool', async () => {
    const home = tempHome();
    const stats = await agentos([
      'run',
      await sample('text-stats'),
      '--tool',
      'stats',
      '--args',
      '{"text":"a b c"}',
      '--home',
      home,
    ]);
    expect(JSON.parse(stats.stdout)).toMatchObject({ words: 3 });
    const tools = await agentos(['run', await sample('text-stats'), '--home', home]);
    expect((JSON.parse(tools.stdout) as { name: string }[]).map((t) => t.name)).toEqual([
      'stats',
      'top-words',
    ]);
  });

  it('prints coded errors on stderr with a non-zero exit', async () => {
    const home = tempHome();
    const noise = join(home, 'noise.wasm');
    writeFileSync(noise, randomBytes(64));
    const cases: [string[], number, RegExp][] = [
      [['run', noise, '--home', home], 1, /^AOS_E_NOT_WASM: .*noise.wasm is not WebAssembly/],
      [
        ['run', await sample('counter'), '--grant', 'log', '--home', home],
        1,
        /^AOS_E_IMPORT_NOT_GRANTED: .* imports agentos:kernel\/working-memory@0.1.0 but was not granted working-memory/,
      ],
      [
        ['run', await sample('echo'), '--grant', 'log', '--message', '{bad', '--home', home],
        2,
        /^AOS_E_BAD_ARGUMENT: --message is not valid JSON/,
      ],
      [['inspect', '/no/such.wasm'], 1, /^AOS_E_COMPONENT_NOT_FOUND/],
      [['frobnicate'], 2, /^AOS_E_BAD_ARGUMENT: unknown command "frobnicate"/],
      [['run', '--bogus'], 2, /^AOS_E_BAD_ARGUMENT: Unknown option '--bogus'/],
      [['send', 'nobody-000000', '--message', '{}', '--home', home], 1, /^AOS_E_AGENT_NOT_FOUND/],
      [
        ['spawn', await sample('echo'), '--limits', '{fuel', '--home', home],
        2,
        /^AOS_E_BAD_ARGUMENT: --limits is not valid JSON/,
      ],
      [
        ['spawn', await sample('echo'), '--grant', 'log', '--priority', 'urgent', '--home', home],
        2,
        /^AOS_E_BAD_ARGUMENT: --priority must be one of interactive, normal, batch, idle/,
      ],
      [['meter', '/no/such.wasm', '-o', join(home, 'x.wasm')], 1, /^AOS_E_COMPONENT_NOT_FOUND/],
      [
        ['meter', noise, '-o', join(home, 'x.wasm')],
        1,
        /^read…\nAOS_E_FUEL_UNSUPPORTED: .*noise.wasm is not a valid core wasm module/,
      ],
    ];
    for (const [args, code, re] of cases) {
      const r = await agentos(args);
      expect(r.code, args.join(' ')).toBe(code);
      expect(r.stderr).toMatch(re);
      expect(r.stdout).toBe('');
    }
  });

  it('exits 2 for flags whose values are wrong, before opening the data dir', async () => {
    const home = join(tempHome(), 'never-made');
    const echo = await fixture('echo-wat');
    const cases: [string[], RegExp][] = [
      [
        ['spawn', echo, '--limits', '{"fuel":{"invocation":-1}}'],
        /^--limits\.fuel\.invocation must be a positive integer, got -1$/,
      ],
      [['spawn', echo, '--limits', '{"memory":1}'], /^--limits has no option "memory"/],
      [
        ['spawn', echo, '--priority', 'bogus'],
        /^--priority must be one of interactive, normal, batch, idle, got "bogus"$/,
      ],
      [['spawn', echo, '--weight', 'abc'], /^--weight must be a number, got "abc"$/],
      [['configure', 'x-1', '--weight', '5000'], /^--weight must be at most 1000, got 5000$/],
      [['spawn', echo, '--seed', 'abc'], /^--seed must be an integer, got abc$/],
      [
        ['send', 'x-1', '--message', '{}', '--timeout=-1'],
        /^--timeout must be a whole number of at least 1, got "-1"$/,
      ],
      [
        ['send', 'x-1', '--message', '{}', '--timeout', '0'],
        /^--timeout must be a whole number of at least 1, got "0"$/,
      ],
      [['journal', 'x-1', '--from', 'x'], /^--from must be a whole number, got "x"$/],
      [['journal', 'x-1', '--limit', '1.5'], /^--limit must be a whole number, got "1.5"$/],
      [['ps', '--log-level', 'loud'], /^--log-level must be one of fatal, error, warn/],
      [
        ['run', echo, '--message', '"a"', '--message', '"b"'],
        /^--message is given more than once; give it once$/,
      ],
      [['ps', '--home', join(home, 'y')], /^--home is given more than once; give it once$/],
      [
        ['send', 'x-1', '--message', '@/no/such/body.json'],
        /^--message: cannot read \/no\/such\/body.json: ENOENT/,
      ],
    ];
    for (const [args, re] of cases) {
      const r = await cli([...args, '--home', home]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/^AOS_E_BAD_ARGUMENT: /);
      expect(r.stderr.slice('AOS_E_BAD_ARGUMENT: '.length).trimEnd()).toMatch(re);
      expect(r.stdout).toBe('');
    }
    expect(existsSync(home)).toBe(false);
  });

  it('reads --message from a file (@path) or stdin (-), past what argv can carry', async () => {
    const home = tempHome();
    const echo = await fixture('echo-wat');
    // 1 MiB of JSON: a single argv string may hold only 128 KiB on Linux.
    const body = JSON.stringify({ text: 'x'.repeat((1 << 20) - 20) });
    expect(body.length).toBeGreaterThan(1 << 19);
    const file = join(home, 'body.json');
    writeFileSync(file, body);
    const fromFile = await agentos(['run', echo, '--message', `@${file}`, '--home', home]);
    expect(fromFile).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(fromFile.stdout)).toEqual(JSON.parse(body));
    const fromStdin = await agentos(['run', echo, '--message', '-', '--home', home], {}, body);
    expect(fromStdin).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(fromStdin.stdout)).toEqual(JSON.parse(body));
  });

  it('prints a result of any depth: indented when shallow, on one line when deep', async () => {
    const home = tempHome();
    const deep = await fixture('deep-wat');
    const shallow = await agentos(['run', deep, '--message', '3', '--home', home]);
    expect(shallow).toMatchObject({ code: 0, stdout: '[\n  [\n    []\n  ]\n]\n' });
    // The agent answers 100,000 levels deep: printed whole, not a RangeError.
    const r = await agentos(['run', deep, '--message', '100000', '--home', home]);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toBe(`${'['.repeat(100_000)}${']'.repeat(100_000)}\n`);
  });

  it('inspect says why exports fit no world', async () => {
    const r = await agentos(['inspect', await fixture('wrong-handle')]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      world: 'unknown',
      exportProblems: [
        'exports handle: func(x: u32) -> u32, but the agent world has handle: func(message: message) -> result<outcome, error>',
      ],
    });
  });

  it('uses $AGENTOS_HOME when --home is absent, and drives an agent across commands', async () => {
    const home = tempHome();
    const env = { AGENTOS_HOME: home };
    const spawned = await agentos(
      ['spawn', await sample('counter'), '--grant', 'log,working-memory', '--name', 'tally'],
      env,
    );
    const { id } = JSON.parse(spawned.stdout) as { id: string };
    expect(id).toMatch(/^tally-/);
    expect(JSON.parse((await agentos(['send', id, '--message', '{"by":4}'], env)).stdout)).toEqual({
      count: 4,
    });
    expect(JSON.parse((await agentos(['suspend', id], env)).stdout)).toEqual({ id, state: 'suspended' });
    expect(JSON.parse((await agentos(['resume', id], env)).stdout)).toEqual({ id, state: 'ready' });
    expect(JSON.parse((await agentos(['send', id, '--message', '{"by":1}'], env)).stdout)).toEqual({
      count: 5,
    });
    const journal = (await agentos(['journal', id], env)).stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { t: string });
    expect(journal[0]!.t).toBe('spawn');
    expect(journal.filter((e) => e.t === 'outcome')).toHaveLength(2);
    // No checkpoint yet (one comes every 1,000 invocations): nothing to prune before.
    const prune = await agentos(['journal', id, '--prune'], env);
    expect(prune.code).toBe(1);
    expect(prune.stderr).toMatch(/^AOS_E_BAD_STATE: .* has no checkpoint/);
    expect((await agentos(['journal', id], env)).stdout.trim().split('\n')).toHaveLength(journal.length);
  });

  it('spawns with limits, priority and weight, changes them with configure, and ps shows fuel', async () => {
    const home = tempHome();
    const limits = '{"fuel":{"invocation":200000000},"memoryBytes":67108864}';
    const spawned = await agentos([
      'spawn',
      await sample('echo'),
      '--grant',
      'log',
      '--limits',
      limits,
      '--priority',
      'batch',
      '--weight',
      '2',
      '--home',
      home,
    ]);
    const { id } = JSON.parse(spawned.stdout) as { id: string };
    const info = JSON.parse((await agentos(['ps', id, '--home', home])).stdout) as Record<string, unknown>;
    expect(info).toMatchObject({
      limits: { fuel: { invocation: 200_000_000 }, memoryBytes: 67_108_864 },
      priority: 'batch',
      weight: 2,
    });
    const changed = await agentos(['configure', id, '--priority', 'interactive', '--home', home]);
    expect(JSON.parse(changed.stdout)).toMatchObject({ id, priority: 'interactive', weight: 2 });
    await agentos(['send', id, '--message', '"x"', '--home', home]);
    expect((await agentos(['ps', '--home', home])).stdout).toMatch(
      new RegExp(
        `^${id}\\s+agent\\s+ready\\s+1 invocations\\s+0 queued\\s+\\d+\\.\\d M fuel\\s+interactive\\n$`,
      ),
    );
  });

  it('meters a core module and reports what it did; refuses to meter its output again', async () => {
    const home = tempHome();
    const wat = '(module (func (export "f") (result i32) (i32.const 1)))';
    const core = join(home, 'core.wasm');
    writeFileSync(core, (await import('binaryen')).default.parseText(wat).emitBinary());
    const out = join(home, 'out.wasm');
    const r = await agentos(['meter', core, '-o', out]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('read…\ninstrument…\nemit…\nvalidate…\n');
    expect(JSON.parse(r.stdout)).toMatchObject({ functions: 1, loops: 0, bulkOps: 0 });
    const again = await agentos(['meter', out, '-o', join(home, 'twice.wasm')]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^read…\nAOS_E_RESERVED_NAME: .*out\.wasm exports "__/);
    expect(existsSync(join(home, 'twice.wasm'))).toBe(false);
  });

  it('demo shows the counter continuing on a second run', async () => {
    const home = tempHome();
    const first = await agentos(['demo', '--home', home]);
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('fresh data dir');
    expect(first.stdout).toMatch(/\{"by":5\}\s+→ \{"count":7\}/);
    const second = await agentos(['demo', '--home', home]);
    expect(second.stdout).toContain('restored 3 agents');
    expect(second.stdout).toMatch(/\{"by":5\}\s+→ \{"count":14\}/);
  });
});
