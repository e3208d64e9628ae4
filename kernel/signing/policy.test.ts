import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { codeOf } from '../../testing/expect-error.js';
import { captureLog, fixture, openKernel, tempHome } from '../../testing/harness.js';
import { ManualClock } from '../base/clock.js';
import { decodeSignatureData, encodeSignatureData, SIGNATURE_SECTION } from './format.js';
import { generateKeyPair, type KeyPair, publicKeyText } from './keys.js';
import { MANIFEST_SECTION, type Manifest, withManifest } from './manifest.js';
import { customSection, sectionsOf, withoutCustomSections } from './sections.js';
import { MAX_CHECKED, signComponent } from './signature.js';
import { TrustStore } from './trust.js';

const acme = generateKeyPair();
const stranger = generateKeyPair();

const manifest = (over: Partial<Manifest> = {}): Manifest => ({
  name: 'sender',
  version: '1.0.0',
  publisher: 'acme',
  description: 'sends one message',
  world: 'agent',
  capabilities: ['ipc:send=sink-*'],
  ...over,
});

/** The sender fixture (it imports ipc) as built, with no manifest and no signature. */
async function bare(): Promise<Buffer> {
  const built = readFileSync(await fixture('sender-wat'));
  return withoutCustomSections(built, [SIGNATURE_SECTION, MANIFEST_SECTION], 'sender');
}

/** The sender fixture with `m` embedded (none: null), signed by `key` (none: null). */
async function build(m: Manifest | null, key: KeyPair | null = acme): Promise<Buffer> {
  const bytes = await bare();
  const withM = m ? withManifest(bytes, m, 'sender') : bytes;
  return key ? signComponent(withM, key, 'sender') : withM;
}

const strict = (home = tempHome(), clock?: ManualClock) =>
  openKernel({
    home,
    ...(clock ? { clock } : {}),
    policy: { allowUnsigned: false, trust: [{ publisher: 'acme', key: publicKeyText(acme.publicKey) }] },
  });

/** Each problem of a refusal, as `CODE: message`. */
async function problems(p: Promise<unknown>): Promise<string[]> {
  try {
    await p;
  } catch (e) {
    const list = (e as { details?: { problems?: { code: string; message: string }[] } }).details?.problems;
    return (list ?? []).map((x) => `${x.code}: ${x.message}`);
  }
  throw new Error('expected a refusal');
}

/** The coded part of a refusal. */
const code = async (p: Promise<unknown>): Promise<string> => (await codeOf(p)).split(':')[0]!;

/** A refused spawn stored nothing: no agent, no component bytes. */
async function nothingStored(home: string, k: Awaited<ReturnType<typeof openKernel>>): Promise<void> {
  expect(k.list()).toEqual([]);
  const dir = join(home, 'components');
  expect(existsSync(dir) ? readdirSync(dir) : []).toEqual([]);
}

describe('the signing policy at spawn', () => {
  it('admits a component signed by a trusted key, and records who vouches for it', async () => {
    const k = await strict();
    const id = await k.spawn(await build(manifest()), { grants: ['ipc'] });
    const info = k.inspect(id);
    expect(info.provenance).toEqual({
      signed: true,
      publisher: 'acme',
      keyId: acme.publicKey.id,
      name: 'sender',
      version: '1.0.0',
      requested: ['ipc:send=sink-*'],
      granted: ['ipc'],
    });
    // The embedder's bare grant is narrowed to what the manifest requested.
    expect(info.grants).toEqual(['ipc:send=sink-*']);
  });

  it('refuses each kind of bad signature with its own code, storing nothing', async () => {
    const home = tempHome();
    const k = await strict(home);
    const signed = await build(manifest());
    const cases: [string, Buffer | Promise<Buffer>][] = [
      ['AOS_E_UNSIGNED', build(manifest(), null)],
      ['AOS_E_UNTRUSTED_KEY', build(manifest(), stranger)],
      ['AOS_E_UNTRUSTED_PUBLISHER', build(manifest({ publisher: 'other' }))],
      ['AOS_E_BAD_MANIFEST', build(null)],
    ];
    // The requested capabilities edited after signing: the manifest section rewritten in place.
    const s = sectionsOf(signed, 'sender');
    const m = s.sections.find((x) => x.name === MANIFEST_SECTION)!;
    const widened = JSON.stringify(manifest({ capabilities: ['ipc'] }));
    const edited = Buffer.concat([
      signed.subarray(0, m.start),
      customSection(MANIFEST_SECTION, Buffer.from(widened)),
      signed.subarray(m.end),
    ]);
    cases.push(['AOS_E_SIGNATURE_MISMATCH', edited]);
    // The signature's last byte flipped: it names acme's key but does not verify.
    const sig = s.sections[0]!;
    const forged = Buffer.from(signed);
    forged[sig.end - 1] = forged[sig.end - 1]! ^ 1;
    cases.push(['AOS_E_SIGNATURE_FORGED', forged]);
    // The signature section cut short.
    const cut = Buffer.concat([
      signed.subarray(0, 8),
      customSection('signature', sig.content!.subarray(0, 20)),
      signed.subarray(sig.end),
    ]);
    cases.push(['AOS_E_SIGNATURE_CORRUPT', cut]);
    for (const [expected, bytes] of cases) {
      expect([expected, await code(k.spawn(await bytes, { grants: ['ipc'] }))]).toEqual([expected, expected]);
    }
    await nothingStored(home, k);
  });

  it('refuses an import the manifest does not request, and a manifest that is not JSON', async () => {
    const home = tempHome();
    const k = await strict(home);
    const noIpc = await build(manifest({ capabilities: ['log'] }));
    // Not requested, so not granted either: both are said, the manifest's first.
    const [first, second] = await problems(k.spawn(noIpc, { grants: ['ipc'] }));
    expect(first).toMatch(
      /^AOS_E_IMPORT_NOT_REQUESTED: .*imports agentos:kernel\/ipc@0\.1\.0, but its manifest does not request ipc/,
    );
    expect(second).toMatch(/^AOS_E_IMPORT_NOT_GRANTED/);
    const raw = await bare();
    const notJson = signComponent(
      Buffer.concat([raw, customSection(MANIFEST_SECTION, Buffer.from('{"name": '))]),
      acme,
      'sender',
    );
    expect(await codeOf(k.spawn(notJson, { grants: ['ipc'] }))).toMatch(
      /^AOS_E_BAD_MANIFEST: .*not valid JSON/,
    );
    const missing = signComponent(
      Buffer.concat([raw, customSection(MANIFEST_SECTION, Buffer.from('{"name":"x"}'))]),
      acme,
      'sender',
    );
    expect(await codeOf(k.spawn(missing, { grants: ['ipc'] }))).toMatch(
      /^AOS_E_BAD_MANIFEST: .*must have required property 'version'/,
    );
    // One capability asked for twice, with two scopes: which one would hold is not for order to say.
    const twice = await build(manifest({ capabilities: ['ipc:send=sink-*', 'ipc', 'log'] }));
    expect(await codeOf(k.spawn(twice, { grants: ['ipc'] }))).toMatch(
      /^AOS_E_BAD_MANIFEST: .*requests ipc more than once/,
    );
    await nothingStored(home, k);
  });

  it('a grant whose scope differs from the request is refused; a scoped grant equal to it stands', async () => {
    const k = await strict();
    const bytes = await build(manifest());
    const refused = await problems(k.spawn(bytes, { grants: ['ipc:send=other-*'] }));
    expect(refused).toContainEqual(
      expect.stringMatching(
        /^AOS_E_BAD_CONFIG: grant "ipc:send=other-\*" and the manifest's request "ipc:send=sink-\*" differ/,
      ),
    );
    const id = await k.spawn(bytes, { grants: ['ipc:send=sink-*'] });
    expect(k.inspect(id).grants).toEqual(['ipc:send=sink-*']);
  });

  it('follows the trust store: revoked and expired keys refuse, a renewed key admits again', async () => {
    const home = tempHome();
    const clock = new ManualClock(1_000_000n);
    const trust = TrustStore.at(home);
    const bytes = await build(manifest({ publisher: 'beta' }));
    trust.add('beta', acme.publicKey, { now: 1_000_000, expiresAt: 2_000_000 });
    const k = await openKernel({ home, clock, policy: { allowUnsigned: false } });
    await k.spawn(bytes, { grants: ['ipc'] });
    clock.advance(1_500_000n);
    expect(await code(k.spawn(bytes, { grants: ['ipc'] }))).toBe('AOS_E_KEY_EXPIRED');
    trust.add('beta', acme.publicKey, { now: Number(clock.now()) });
    await k.spawn(bytes, { grants: ['ipc'] });
    trust.revoke('beta', acme.publicKey.id, Number(clock.now()));
    expect(await code(k.spawn(bytes, { grants: ['ipc'] }))).toBe('AOS_E_KEY_REVOKED');
    expect(trust.list()[0]!.keys[0]!.revokedAt).toBe(Number(clock.now()));
  });

  it('a publisher limited to some capabilities gets no others', async () => {
    const home = tempHome();
    const trust = TrustStore.at(home);
    for (const bad of ['', 'Log', 'ipc:send=x', '../x'])
      expect(await codeOf(() => trust.add('acme', acme.publicKey, { now: 0, capabilities: [bad] }))).toMatch(
        /^AOS_E_BAD_ARGUMENT: .* is not a capability name/,
      );
    expect(trust.list()).toEqual([]);
    trust.add('acme', acme.publicKey, { now: 0, capabilities: ['log'] });
    const k = await openKernel({ home, policy: { allowUnsigned: false } });
    expect(await codeOf(k.spawn(await build(manifest()), { grants: ['ipc'] }))).toMatch(
      /^AOS_E_IMPORT_NOT_GRANTED/,
    );
  });

  it('a damaged trust store is AOS_E_DATA_DIR naming it, and nothing loads', async () => {
    const home = tempHome();
    writeFileSync(
      join(home, 'trust.json'),
      '{"version": 1, "publishers": [{"publisher": "x", "keys": [{"key": "ed25519:AAAA"}]}]}',
    );
    const k = await openKernel({ home, policy: { allowUnsigned: false } });
    const e = await codeOf(k.spawn(await build(manifest()), { grants: ['ipc'] }));
    expect(e).toMatch(/^AOS_E_DATA_DIR: the trust store .*trust\.json is damaged/);
    await nothingStored(home, k);
  });

  it('allowUnsigned admits an unsigned component with a warning on every load, never a tampered one', async () => {
    const { lines, logger } = captureLog('warn');
    const k = await openKernel({ logger, policy: { allowUnsigned: true } });
    const unsigned = await build(manifest(), null);
    await k.spawn(unsigned, { grants: ['ipc'] });
    await k.spawn(unsigned, { grants: ['ipc'] });
    expect(lines.filter((l) => String(l.msg).includes('unsigned'))).toHaveLength(2);
    const signed = await build(manifest());
    const tampered = Buffer.concat([signed, customSection('extra', Buffer.from('x'))]);
    expect(await code(k.spawn(tampered, { grants: ['ipc'] }))).toBe('AOS_E_SIGNATURE_MISMATCH');
  });

  it("a verdict follows changes to a publisher's allowed capabilities and to who a key speaks for", async () => {
    const home = tempHome();
    const trust = TrustStore.at(home);
    trust.add('acme', acme.publicKey, { now: 0 });
    const k = await openKernel({ home, policy: { allowUnsigned: false } });
    const bytes = await build(manifest());
    await k.spawn(bytes, { grants: ['ipc'] });
    trust.add('acme', acme.publicKey, { now: 0, capabilities: ['log'] });
    expect(await code(k.spawn(bytes, { grants: ['ipc'] }))).toBe('AOS_E_IMPORT_NOT_GRANTED');
  });

  it('checks at most a bounded number of signatures, so a load cannot be made to verify thousands', async () => {
    const k = await strict();
    const signed = await build(manifest());
    const s = sectionsOf(signed, 'sender');
    const data = decodeSignatureData(s.sections[0]!.content!, 'sender');
    const junk = (i: number) => ({
      keyId: new Uint8Array(),
      algorithm: 1,
      signature: Buffer.alloc(64, i + 1),
    });
    const withJunk = (n: number) =>
      Buffer.concat([
        signed.subarray(0, 8),
        customSection(
          'signature',
          encodeSignatureData({
            sets: [
              {
                ...data.sets[0]!,
                signatures: [...data.sets[0]!.signatures, ...Array.from({ length: n }, (_, i) => junk(i))],
              },
            ],
          }),
        ),
        signed.subarray(s.sections[0]!.end),
      ]);
    // The valid signature and 15 junk ones: admitted. One more: refused before any is tried.
    await k.spawn(withJunk(MAX_CHECKED - 1), { grants: ['ipc'] });
    expect(await code(k.spawn(withJunk(MAX_CHECKED), { grants: ['ipc'] }))).toBe('AOS_E_SIGNATURE_CORRUPT');
    // Repeating one record many times counts once.
    const repeated = Buffer.concat([
      signed.subarray(0, 8),
      customSection(
        'signature',
        encodeSignatureData({
          sets: [{ ...data.sets[0]!, signatures: Array(200).fill(data.sets[0]!.signatures[0]!) }],
        }),
      ),
      signed.subarray(s.sections[0]!.end),
    ]);
    await k.spawn(repeated, { grants: ['ipc'] });
  });

  it('takes the manifest from the bytes, not from a cached inspection someone edited', async () => {
    const home = tempHome();
    const cacheDir = tempHome('agentos-cache-');
    let k = await openKernel({
      home,
      cacheDir,
      policy: { allowUnsigned: false, trust: [{ publisher: 'acme', key: publicKeyText(acme.publicKey) }] },
    });
    const bytes = await build(manifest());
    await k.spawn(bytes, { grants: ['ipc'] });
    await k.close();
    const dir = join(cacheDir, 'inspect');
    for (const f of readdirSync(dir)) {
      const info = JSON.parse(readFileSync(join(dir, f), 'utf8'));
      if (info.manifest) info.manifest.capabilities = ['ipc', 'log'];
      writeFileSync(join(dir, f), JSON.stringify(info));
    }
    k = await openKernel({
      home,
      cacheDir,
      policy: { allowUnsigned: false, trust: [{ publisher: 'acme', key: publicKeyText(acme.publicKey) }] },
    });
    const id = await k.spawn(bytes, { grants: ['ipc', 'log'] });
    expect(k.inspect(id).grants).toEqual(['ipc:send=sink-*']);
  });

  it('refuses a hand-edited trust store that is inconsistent, and a manifest of the wrong world', async () => {
    const key = publicKeyText(acme.publicKey);
    const id = acme.publicKey.id;
    const entry = { key, id, addedAt: 0, expiresAt: null, revokedAt: null };
    const bad = [
      {
        publishers: [
          { publisher: 'a', keys: [entry] },
          { publisher: 'b', keys: [entry] },
        ],
      },
      { publishers: [{ publisher: 'a', keys: [entry], capabilities: 'ipc' }] },
      { publishers: [{ publisher: 'a', keys: [{ ...entry, id: '0000000000000000' }] }] },
      { publishers: [{ publisher: 'a', keys: [{ ...entry, expiresAt: '2099-01-01' }] }] },
    ];
    for (const file of bad) {
      const home = tempHome();
      writeFileSync(join(home, 'trust.json'), JSON.stringify({ version: 1, ...file }));
      const k = await openKernel({ home, policy: { allowUnsigned: false } });
      expect(await code(k.spawn(await build(manifest()), { grants: ['ipc'] }))).toBe('AOS_E_DATA_DIR');
    }
    const k = await strict();
    expect(await codeOf(k.spawn(await build(manifest({ world: 'skill' })), { grants: ['ipc'] }))).toMatch(
      /AOS_E_BAD_MANIFEST: .*manifest says world skill, but its exports are the agent world's/,
    );
  });
});
