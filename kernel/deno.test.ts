import { execFile } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixture, sample, TEST_CACHE_DIR, tempHome } from '../testing/harness.js';
import { DEV_PUBLISHER, devKey } from '../toolchain/dev-key.js';
import { packageRoot } from './base/paths.js';
import { TrustStore } from './signing/trust.js';

const DENO = join(packageRoot(), 'node_modules', '.bin', 'deno');

describe('embedding under Deno', () => {
  it('runs the README embedding example on the node_modules npm installed', async () => {
    const dir = tempHome('agentos-deno-');
    mkdirSync(join(dir, 'node_modules'));
    symlinkSync(packageRoot(), join(dir, 'node_modules', 'agentos'));
    writeFileSync(
      join(dir, 'package.json'),
      JSON.stringify({ type: 'module', dependencies: { agentos: '*' } }),
    );
    // The data dir trusts the key that signed the samples (`agentos trust add` does the same).
    TrustStore.at(join(dir, '.agentos')).add(DEV_PUBLISHER, devKey().publicKey, { now: Date.now() });
    // Both engines: the echo sample is QuickJS (its core modules use extended-const, which Deno
    // accepts as it is), the thrower fixture SpiderMonkey.
    const echo = await sample('echo');
    const [echoWat, sender, sm] = [
      await fixture('echo-wat'),
      await fixture('sender-wat'),
      await fixture('thrower'),
    ];
    // Also a flood of sends answered in the sender's worker (credits, the post ring).
    writeFileSync(
      join(dir, 'embed.mjs'),
      `import { Kernel } from 'agentos';
const kernel = await Kernel.open({ home: './.agentos' });
const id = await kernel.spawn(${JSON.stringify(echo)}, { grants: ['log', 'working-memory'] });
const out = await kernel.send(id, { text: 'hi' });
const smOut = await kernel.send(await kernel.spawn(${JSON.stringify(sm)}), { engine: 'spidermonkey' });
const smErr = await kernel.send(await kernel.spawn(${JSON.stringify(sm)}), { return: 'err' }).catch((e) => e.code);
const to = await kernel.spawn(${JSON.stringify(echoWat)});
const from = await kernel.spawn(${JSON.stringify(sender)}, { grants: ['ipc'] });
await kernel.send(from, to + ' 300');
while (kernel.inspect(to).stats.invocations < 300) await new Promise((r) => setTimeout(r, 5));
const sends = (await kernel.journal(from)).filter((e) => e.t === 'hostcall').length;
console.log(JSON.stringify({ deno: Deno.version.deno, id, out, smOut, smErr, journal: (await kernel.journal(id)).length, sends }));
await kernel.close();
`,
    );
    const { stdout, stderr } = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) => {
      execFile(
        DENO,
        ['run', '-A', 'embed.mjs'],
        // The shared cache of metered components: metering the JS echo again would take most of
        // the test's time on a loaded machine.
        {
          cwd: dir,
          env: { ...process.env, DENO_NO_UPDATE_CHECK: '1', AGENTOS_CACHE: TEST_CACHE_DIR },
          timeout: 100_000,
        },
        (err, so, se) =>
          err ? reject(new Error(`deno failed: ${se}`)) : resolve({ stdout: so, stderr: se }),
      );
    });
    expect(stderr).toBe('');
    const result = JSON.parse(stdout) as {
      deno: string;
      id: string;
      out: unknown;
      smOut: unknown;
      smErr: unknown;
      journal: number;
      sends: number;
    };
    expect(result.deno).toMatch(/^2\./);
    expect(result.id).toMatch(/^echo-[0-9a-f]{6}$/);
    expect(result.out).toEqual({ text: 'hi' });
    expect(result.smOut).toEqual({ engine: 'spidermonkey' });
    expect(result.smErr).toBe('AOS_E_AGENT_ERROR');
    expect(result.journal).toBeGreaterThanOrEqual(5);
    expect(result.sends).toBe(300);
  }, 120_000);
});
