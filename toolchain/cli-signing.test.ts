/** The CLI's signing and catalog commands: keys, signatures, trust, and installed components. */
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SIGNATURE_SECTION } from '../kernel/signing/format.js';
import { MANIFEST_SECTION, readManifest, withManifest } from '../kernel/signing/manifest.js';
import { withoutCustomSections } from '../kernel/signing/sections.js';
import { agentos, cli } from '../testing/cli-runner.js';
import { sample, signedForTests, tempHome } from '../testing/harness.js';

describe('agentos CLI: signing and the catalog', () => {
  it('keygen, sign, verify and trust: a new publisher from key to running agent, and back out', async () => {
    const home = tempHome();
    const key = join(home, 'acme.key');
    const made = await cli(['keygen', '-o', key]);
    expect(made.code).toBe(0);
    const { id, text } = JSON.parse(made.stdout) as { id: string; text: string };
    expect(statSync(key).mode & 0o777).toBe(0o600);
    // The secret never reaches the output.
    const secret = readFileSync(key).subarray(1, 33);
    for (const form of ['hex', 'base64'] as const) expect(made.stdout).not.toContain(secret.toString(form));
    // The echo sample, re-published by acme: its manifest names acme, then acme signs it.
    const echo = readFileSync(await sample('echo'));
    const bare = withoutCustomSections(echo, [SIGNATURE_SECTION], 'echo');
    const manifest = readManifest(bare, 'echo')!;
    const file = join(home, 'echo.wasm');
    writeFileSync(file, withManifest(bare, { ...manifest, publisher: 'acme' }, 'echo'));
    expect((await cli(['verify', file, '--key', `${key}.pub`])).stderr).toMatch(/^AOS_E_UNSIGNED/);
    const signed = await cli(['sign', file, '--key', key]);
    expect(JSON.parse(signed.stdout)).toMatchObject({ out: file, keyId: id });
    expect(JSON.parse((await cli(['verify', file, '--key', text])).stdout)).toMatchObject({
      verified: true,
      keyId: id,
      publisher: 'acme',
    });
    const data = join(home, 'data');
    const run = () => cli(['run', file, '--grant', 'log', '--message', '"hi"', '--home', data]);
    expect((await run()).stderr).toMatch(/^AOS_E_UNTRUSTED_KEY: .*signed by key\(s\) [0-9a-f]{16}/);
    expect((await cli(['verify', file, '--trust', '--home', data])).stderr).toMatch(/^AOS_E_UNTRUSTED_KEY/);
    // A capability no kernel capability has is a typo, refused before anything is written.
    const typo = await cli([
      'trust',
      'add',
      'acme',
      `${key}.pub`,
      '--capabilities',
      'log,ipcc',
      '--home',
      data,
    ]);
    expect(typo).toMatchObject({ code: 2 });
    expect(typo.stderr).toMatch(
      /^AOS_E_BAD_ARGUMENT: --capabilities names no capability: ipcc \(known: log, /,
    );
    expect(JSON.parse((await cli(['trust', 'list', '--home', data])).stdout)).toEqual([]);
    expect((await cli(['trust', 'add', 'acme', `${key}.pub`, '--home', data])).code).toBe(0);
    expect(await run()).toMatchObject({ code: 0, stdout: '"hi"\n' });
    const listed = JSON.parse((await cli(['trust', 'list', '--home', data])).stdout) as {
      publisher: string;
    }[];
    expect(listed.map((p) => p.publisher)).toEqual(['acme']);
    const inspected = JSON.parse((await cli(['inspect', file, '--home', data])).stdout) as Record<
      string,
      unknown
    >;
    expect(inspected).toMatchObject({
      manifest: { publisher: 'acme' },
      signing: {
        signed: true,
        covered: true,
        signatures: [{ keyId: id, verified: true, publisher: 'acme' }],
      },
    });
    expect((await cli(['trust', 'revoke', 'acme', id, '--home', data])).code).toBe(0);
    expect((await run()).stderr).toMatch(/^AOS_E_KEY_REVOKED/);
    // A second keygen never writes over the first key.
    expect((await cli(['keygen', '-o', key])).stderr).toMatch(/^AOS_E_BAD_ARGUMENT: .*exists/);
    // Signing needs a manifest: a component without one is refused.
    const noManifest = join(home, 'plain.wasm');
    writeFileSync(noManifest, withoutCustomSections(bare, [MANIFEST_SECTION], 'echo'));
    expect((await cli(['sign', noManifest, '--key', key])).stderr).toMatch(
      /^AOS_E_BAD_MANIFEST: .*has no manifest/,
    );
  }, 180_000);

  it('install, installed, search, run by name and range, uninstall', async () => {
    const home = tempHome();
    const installed = await agentos(['install', await sample('text-stats'), '--home', home]);
    expect(JSON.parse(installed.stdout)).toMatchObject({
      name: 'text-stats',
      version: '1.0.0',
      current: true,
    });
    const list = JSON.parse((await agentos(['installed', '--home', home])).stdout) as { name: string }[];
    expect(list.map((e) => e.name)).toEqual(['text-stats']);
    const found = JSON.parse((await agentos(['search', 'frequent', '--home', home])).stdout) as {
      name: string;
    }[];
    expect(found.map((e) => e.name)).toEqual(['text-stats']);
    const run = await agentos([
      'run',
      'text-stats@^1',
      '--tool',
      'stats',
      '--args',
      '{"text":"a b c"}',
      '--home',
      home,
    ]);
    expect(JSON.parse(run.stdout)).toMatchObject({ words: 3 });
    expect(JSON.parse((await agentos(['uninstall', 'text-stats@1.0.0', '--home', home])).stdout)).toEqual({
      uninstalled: ['1.0.0'],
    });
    const gone = await agentos(['run', 'text-stats', '--tool', 'stats', '--home', home]);
    expect(gone).toMatchObject({ code: 1, stdout: '' });
    expect(gone.stderr).toMatch(/^AOS_E_NOT_INSTALLED: text-stats is not installed/);
  }, 180_000);

  it('upgrade moves a spawned agent onto the version made current', async () => {
    const home = tempHome();
    await agentos(['install', await sample('counter'), '--home', home]);
    const spawned = await agentos(['spawn', 'counter', '--grant', 'log,working-memory', '--home', home]);
    const { id } = JSON.parse(spawned.stdout) as { id: string };
    // echo's code as counter 2.0.0.
    const echo = readFileSync(await sample('echo'));
    const counter = readManifest(readFileSync(await sample('counter')), 'counter')!;
    const v2 = join(home, 'counter-2.wasm');
    writeFileSync(
      v2,
      signedForTests(withoutCustomSections(echo, [SIGNATURE_SECTION], 'echo'), {
        ...counter,
        version: '2.0.0',
        capabilities: ['log'],
      }),
    );
    expect((await agentos(['update', v2, '--home', home])).code).toBe(0);
    // echo's code does not replay the counter's run: refused unless forced.
    const refused = await agentos(['upgrade', id, '--home', home]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^AOS_E_REPLAY_DIVERGED: .*nothing changed \(force to switch anyway\)/);
    const up = await agentos(['upgrade', id, '--force', '--home', home]);
    expect(JSON.parse(up.stdout)).toMatchObject({
      id,
      from: '1.0.0',
      to: '2.0.0',
      upgraded: true,
      replay: { identical: false },
    });
    const sent = await agentos(['send', id, '--message', '{"text":"v2"}', '--home', home]);
    expect(JSON.parse(sent.stdout)).toMatchObject({ text: 'v2' });
    const bad = await agentos(['upgrade', id, 'echo', '--home', home]);
    expect(bad.stderr).toMatch(/^AOS_E_BAD_ARGUMENT: .*runs counter/);
  }, 180_000);
});
