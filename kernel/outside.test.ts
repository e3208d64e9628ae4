/**
 * Effects outside the data dir (`Capability.outside`): a call's result is kept on disk before the
 * guest sees it, so a message that runs again (after a crash, or a kill -9 of the kernel between
 * the call and the invocation's end) is answered from it and reaches the server once.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultCapabilities } from '../hostcalls/index.js';
import { codeOf } from '../testing/expect-error.js';
import { openKernel, signedForTests, tempHome, until } from '../testing/harness.js';
import { outsideEffect } from '../testing/outside/index.js';
import { buildWatComponent } from '../toolchain/wat.js';
import { packageRoot } from './base/paths.js';

let server: Server;
let url: string;
const hits = { hit: 0, again: 0 };
let agentWasm: Buffer;

beforeAll(async () => {
  server = createServer((req, res) => {
    const which = req.url === '/hit' ? 'hit' : 'again';
    hits[which] += 1;
    res.end(String(hits[which]));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  agentWasm = await outsideAgent();
}, 120_000);

afterAll(() => server?.close());

/** The agent (testing/outside/agent.wat) built against outside.wit, with its manifest, signed by the dev key. */
async function outsideAgent(): Promise<Buffer> {
  const dir = join(packageRoot(), 'testing');
  const common = readFileSync(join(dir, 'fixtures', 'common.wat.inc'), 'utf8');
  const built = await buildWatComponent(
    readFileSync(join(dir, 'outside', 'agent.wat'), 'utf8').replace(';;COMMON', common),
    {
      world: 'agent',
      extraPackages: { outside: readFileSync(join(dir, 'outside', 'outside.wit'), 'utf8') },
      extraWorldLines: ['import acme:outside/effect@1.0.0;'],
    },
  );
  return signedForTests(built, {
    name: 'outside-agent',
    version: '1.0.0',
    publisher: 'agentos-dev',
    description: 'calls a server outside the data dir',
    world: 'agent',
    capabilities: ['effect'],
  });
}

const reset = (): void => {
  hits.hit = 0;
  hits.again = 0;
};

const withEffect = (home = tempHome()) =>
  openKernel({ home, capabilities: [...defaultCapabilities, outsideEffect], config: { effect: { url } } });

describe('calls that reach outside the data dir', () => {
  it('a message that crashes and runs again is answered from the kept result: the server is hit once', async () => {
    reset();
    const k = await withEffect();
    const id = await k.spawn(agentWasm, { grants: ['effect'] });
    // Three attempts, each crashing after both calls: `hit` reached the server once, `hit-again` three times.
    expect(await codeOf(k.send(id, 'trap'))).toMatch(
      /^AOS_E_AGENT_CRASHED: .*dead-lettered after 3 attempts/,
    );
    expect(hits).toEqual({ hit: 1, again: 3 });
    const calls = (await k.journal(id))
      .filter((e) => e.t === 'hostcall')
      .map((e) => e.t === 'hostcall' && e.result);
    expect(calls).toEqual([1, 1, 1, 2, 1, 3]); // hit's answer is the kept one each time
    // Its message is done (dead-lettered): what was kept for it is gone, and a new message reaches out again.
    expect(await k.send(id, '')).toBe(24);
    expect(hits).toEqual({ hit: 2, again: 4 });
  });

  it('a kill -9 between the call and the end of its invocation: after the restart, the server is hit once', async () => {
    reset();
    const home = tempHome();
    const wasm = join(tempHome(), 'outside.wasm');
    writeFileSync(wasm, agentWasm);
    const child = (args: string[]): ChildProcess =>
      spawn(process.execPath, [join(packageRoot(), 'dist', 'testing', 'outside-child.js'), ...args], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
    const first = child(['run', home, url, wasm]);
    // Both calls reached the server; the agent now spins: the kernel dies before its outcome.
    await until('both calls reached the server', () => hits.hit === 1 && hits.again === 1, 60_000);
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));
    const out = await new Promise<string>((resolve, reject) =>
      execFile(
        process.execPath,
        [join(packageRoot(), 'dist', 'testing', 'outside-child.js'), 'resume', home, url],
        { timeout: 120_000 },
        (err, stdout) => (err ? reject(err) : resolve(stdout)),
      ),
    );
    const outcome = JSON.parse(out.trim().split('\n').pop()!) as { result: string; value: string };
    // The message ran again from the start: hit answered from the kept result (1), hit-again made again (2).
    expect(outcome).toMatchObject({ result: 'ok', value: '12' });
    expect(hits).toEqual({ hit: 1, again: 2 });
  }, 180_000);

  it('a capability that marks what it does not have, or marks a posted function, is refused at open', async () => {
    const bad = { ...outsideEffect, outside: ['nothing'] };
    expect(
      await codeOf(openKernel({ capabilities: [...defaultCapabilities, bad], config: { effect: { url } } })),
    ).toMatch(/^AOS_E_BAD_CONFIG: .*outside names "nothing", which is no function of it/);
  });
});
