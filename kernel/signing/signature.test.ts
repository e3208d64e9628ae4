import { mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { codeOf } from '../../testing/expect-error.js';
import { fixture, tempHome } from '../../testing/harness.js';
import { encodeU32 } from '../base/wasm-header.js';
import { decodeSignatureData, SIGNATURE_SECTION, signedMessage } from './format.js';
import {
  generateKeyPair,
  parsePublicKey,
  publicKeyText,
  readKeyPair,
  verifyBytes,
  writeKeyPair,
} from './keys.js';
import { customSection, sectionsOf, withoutCustomSections } from './sections.js';
import { checkSignatures, signComponent, unsigned } from './signature.js';

/** The code of the coded error `f` throws. */
const code = async (f: () => unknown): Promise<string> => (await codeOf(f)).split(':')[0]!;

const alice = generateKeyPair();
const bob = generateKeyPair();

/** A small real component (hand-written wasm, wrapped by the toolchain), as built: unsigned. */
const component = async (): Promise<Buffer> =>
  withoutCustomSections(readFileSync(await fixture('echo-wat')), [SIGNATURE_SECTION], 'echo');

/** The index of the code-carrying section: any byte of it changed must break every signature. */
function lastNonCustom(bytes: Buffer): { start: number; end: number } {
  const s = sectionsOf(bytes, 'x').sections.filter((x) => x.id !== 0);
  return s[s.length - 1]!;
}

describe('component signatures (tool-conventions format)', () => {
  it('puts one signature section first, over every section after it, in the reference layout', async () => {
    const bytes = await component();
    const signed = signComponent(bytes, alice, 'echo');
    const { sections } = sectionsOf(signed, 'echo');
    expect(sections[0]!.name).toBe(SIGNATURE_SECTION);
    expect(sections.filter((s) => s.name === SIGNATURE_SECTION)).toHaveLength(1);
    // Removing the signature gives back the bytes that were signed, unchanged.
    expect(Buffer.compare(unsigned(signed, 'echo'), bytes)).toBe(0);
    const data = decodeSignatureData(sections[0]!.content!, 'echo');
    expect(data.sets).toHaveLength(1);
    const [set] = data.sets;
    // One hash: SHA-256 of every section after the signature, as the file holds them.
    const { createHash } = await import('node:crypto');
    const expected = createHash('sha256').update(bytes.subarray(8)).digest();
    expect(Buffer.from(set!.hashes[0]!).equals(expected)).toBe(true);
    expect(Buffer.from(set!.signatures[0]!.keyId).toString('hex')).toBe(alice.publicKey.id);
    // The signature is Ed25519 over "wasmsig" ‖ 1 ‖ 1 ‖ 1 ‖ hashes.
    const message = Buffer.concat([Buffer.from('wasmsig'), Buffer.from([1, 1, 1]), expected]);
    expect(signedMessage(set!.hashes).equals(message)).toBe(true);
    expect(verifyBytes(alice.publicKey, message, set!.signatures[0]!.signature)).toBe(true);
  });

  it('verifies with the signer key, and a second signer adds a signature', async () => {
    const once = signComponent(await component(), alice, 'echo');
    const twice = signComponent(once, bob, 'echo');
    const r = checkSignatures(twice, [alice.publicKey, bob.publicKey], 'echo');
    expect(r).toMatchObject({ signed: true, covered: true, stale: 0 });
    expect(r.signatures.map((s) => s.key?.id)).toEqual([alice.publicKey.id, bob.publicKey.id]);
    // Signing twice with one key is refused, not duplicated.
    expect(await code(() => signComponent(twice, alice, 'echo'))).toBe('AOS_E_BAD_ARGUMENT');
  });

  it('an unsigned component reports unsigned, and an unknown key verifies nothing', async () => {
    const bytes = await component();
    expect(checkSignatures(bytes, [alice.publicKey], 'echo')).toMatchObject({
      signed: false,
      covered: false,
    });
    const r = checkSignatures(signComponent(bytes, alice, 'echo'), [bob.publicKey], 'echo');
    expect(r.covered).toBe(true);
    expect(r.signatures).toEqual([{ keyId: alice.publicKey.id, key: null, forged: false }]);
  });

  it('changing any byte after signing, in code or in a custom section, leaves no signature covering it', async () => {
    const signed = signComponent(await component(), alice, 'echo');
    const code = lastNonCustom(signed);
    for (const at of [code.start + 2, code.end - 1, signed.length - 1]) {
      const edited = Buffer.from(signed);
      edited[at] = edited[at]! ^ 0x01;
      let r: ReturnType<typeof checkSignatures> | string;
      try {
        r = checkSignatures(edited, [alice.publicKey], 'echo');
      } catch (e) {
        r = (e as { code: string }).code; // an edit that breaks the framing is a parse error
      }
      if (typeof r === 'string') expect(r).toMatch(/^AOS_E_/);
      else expect(r).toMatchObject({ signed: true, covered: false, stale: 1, signatures: [] });
    }
    // Appending a section is a change too.
    const appended = Buffer.concat([signed, customSection('extra', Buffer.from('x'))]);
    expect(checkSignatures(appended, [alice.publicKey], 'echo')).toMatchObject({ covered: false, stale: 1 });
  });

  it('a signature whose bytes were altered, under a known key id, is forged', async () => {
    const signed = signComponent(await component(), alice, 'echo');
    const { sections } = sectionsOf(signed, 'echo');
    const sig = sections[0]!;
    const edited = Buffer.from(signed);
    edited[sig.end - 1] = edited[sig.end - 1]! ^ 0xff; // last byte of the Ed25519 signature
    const r = checkSignatures(edited, [alice.publicKey], 'echo');
    expect(r.signatures).toEqual([{ keyId: alice.publicKey.id, key: null, forged: true }]);
  });

  it('a corrupt, truncated or misplaced signature section is AOS_E_SIGNATURE_CORRUPT', async () => {
    const bytes = await component();
    const signed = signComponent(bytes, alice, 'echo');
    const { sections } = sectionsOf(signed, 'echo');
    const payload = sections[0]!.content!;
    const body = signed.subarray(sections[0]!.end);
    const withPayload = (p: Uint8Array): Buffer =>
      Buffer.concat([signed.subarray(0, 8), customSection(SIGNATURE_SECTION, p), body]);
    // Cut short, with a byte too many, and with a set count it does not hold.
    expect(await code(() => checkSignatures(withPayload(payload.subarray(0, 40)), [], 'echo'))).toBe(
      'AOS_E_SIGNATURE_CORRUPT',
    );
    expect(
      await code(() => checkSignatures(withPayload(Buffer.concat([payload, Buffer.from([0])])), [], 'e')),
    ).toBe('AOS_E_SIGNATURE_CORRUPT');
    const lying = Buffer.from(payload);
    lying[3] = 9;
    expect(await code(() => checkSignatures(withPayload(lying), [], 'echo'))).toBe('AOS_E_SIGNATURE_CORRUPT');
    // Another version of the format is unsupported, not corrupt.
    const v2 = Buffer.from(payload);
    v2[0] = 2;
    expect(await code(() => checkSignatures(withPayload(v2), [], 'echo'))).toBe(
      'AOS_E_SIGNATURE_UNSUPPORTED',
    );
    // A signature section anywhere but first.
    const late = Buffer.concat([bytes, customSection(SIGNATURE_SECTION, payload)]);
    expect(await code(() => checkSignatures(late, [], 'echo'))).toBe('AOS_E_SIGNATURE_CORRUPT');
    // A signature section whose declared size runs past the file.
    const cut = signed.subarray(0, 8 + 3);
    expect(await code(() => checkSignatures(cut, [], 'echo'))).toBe('AOS_E_TRUNCATED');
  });

  it('encodes LEB128 as the wasm binary format does', () => {
    expect(encodeU32(0)).toEqual([0]);
    expect(encodeU32(127)).toEqual([0x7f]);
    expect(encodeU32(128)).toEqual([0x80, 0x01]);
    expect(encodeU32(624485)).toEqual([0xe5, 0x8e, 0x26]);
  });
});

describe('signing keys', () => {
  it('writes a key pair with mode 0600 and its public key beside it, never over a file', async () => {
    const dir = tempHome();
    const path = join(dir, 'dev.key');
    const pub = writeKeyPair(path, alice);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(parsePublicKey(readFileSync(pub)).id).toBe(alice.publicKey.id);
    expect(readKeyPair(path).publicKey.id).toBe(alice.publicKey.id);
    expect(await code(() => writeKeyPair(path, bob))).toBe('AOS_E_BAD_ARGUMENT');
    expect(readKeyPair(path).publicKey.id).toBe(alice.publicKey.id);
  });

  it('refuses a key pair file others can read, one of the wrong size, and one whose halves differ', async () => {
    const dir = tempHome();
    const path = join(dir, 'k.key');
    writeKeyPair(path, alice);
    const bytes = readFileSync(path);
    writeFileSync(join(dir, 'open.key'), bytes, { mode: 0o644 });
    expect(await codeOf(() => readKeyPair(join(dir, 'open.key')))).toMatch(/^AOS_E_BAD_KEY: .*chmod 600/);
    writeFileSync(join(dir, 'short.key'), bytes.subarray(0, 40), { mode: 0o600 });
    expect(await code(() => readKeyPair(join(dir, 'short.key')))).toBe('AOS_E_BAD_KEY');
    const mixed = Buffer.concat([bytes.subarray(0, 33), Buffer.from(bob.publicKey.raw)]);
    writeFileSync(join(dir, 'mixed.key'), mixed, { mode: 0o600 });
    expect(await code(() => readKeyPair(join(dir, 'mixed.key')))).toBe('AOS_E_BAD_KEY');
    expect(await code(() => readKeyPair(join(dir, 'missing.key')))).toBe('AOS_E_BAD_KEY');
  });

  it('never puts a secret key in an error message', () => {
    const dir = tempHome();
    const path = join(dir, 'k.key');
    writeKeyPair(path, alice);
    const secretHex = alice.secret.toString('hex');
    const secretB64 = alice.secret.toString('base64');
    for (const input of [
      readFileSync(path),
      readFileSync(path).toString('base64'),
      `ed25519:${secretB64}x`,
    ]) {
      try {
        parsePublicKey(input);
        expect.unreachable();
      } catch (e) {
        const text = `${(e as Error).message} ${JSON.stringify(e)}`;
        expect(text).not.toContain(secretHex);
        expect(text).not.toContain(secretB64);
      }
    }
  });

  it('reads a public key from its text form and refuses malformed text', async () => {
    const text = publicKeyText(alice.publicKey);
    expect(text).toMatch(/^ed25519:/);
    expect(parsePublicKey(text).id).toBe(alice.publicKey.id);
    for (const bad of ['', 'ed25519:', 'ed25519:AAAA', 'rsa:xyz', `${text}=`]) {
      expect(await code(() => parsePublicKey(bad))).toBe('AOS_E_BAD_KEY');
    }
  });

  it('never writes a key over a file or through a symlink, and reads only regular files', async () => {
    const dir = tempHome();
    const victim = join(dir, 'victim.txt');
    writeFileSync(victim, 'keep me');
    symlinkSync(victim, join(dir, 'new.key.pub'));
    expect(await code(() => writeKeyPair(join(dir, 'new.key'), alice))).toBe('AOS_E_BAD_ARGUMENT');
    expect(readFileSync(victim, 'utf8')).toBe('keep me');
    symlinkSync(join(dir, 'nowhere'), join(dir, 'dangling.key'));
    expect(await code(() => writeKeyPair(join(dir, 'dangling.key'), alice))).toBe('AOS_E_BAD_ARGUMENT');
    mkdirSync(join(dir, 'a-dir.key'));
    expect(await code(() => readKeyPair(join(dir, 'a-dir.key')))).toBe('AOS_E_BAD_KEY');
  });
});
