/**
 * `agentos keygen`, `sign`, `verify` and `trust`: signing keys, signatures and the data dir's
 * trust store. Key files are written 0600 and their bytes are never printed; only public keys
 * and key ids are.
 *
 *   agentos keygen -o acme.key                      # acme.key (0600) and acme.key.pub
 *   agentos sign echo.wasm --key acme.key [-o out.wasm]
 *   agentos verify echo.wasm --key acme.key.pub     # or --trust: the data dir's trust store
 *   agentos trust add acme acme.key.pub [--expires 2027-12-31] [--capabilities log,ipc]
 *   agentos trust list | agentos trust revoke acme [<key-id>]
 */
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { defaultCapabilities } from '../../hostcalls/index.js';
import { AgentOSError } from '../../kernel/base/errors.js';
import { readComponent, sha256 } from '../../kernel/loader/loader.js';
import {
  generateKeyPair,
  parsePublicKey,
  publicKeyText,
  readKeyPair,
  writeKeyPair,
} from '../../kernel/signing/keys.js';
import { readManifest } from '../../kernel/signing/manifest.js';
import { SigningPolicy } from '../../kernel/signing/policy.js';
import { checkSignatures, signComponent } from '../../kernel/signing/signature.js';
import { TrustStore } from '../../kernel/signing/trust.js';
import { print, usage } from './args.js';
import { type Command, homeOf, need } from './shared.js';

export const keygen: Command = async (v) => {
  if (!v.out) throw usage('keygen needs -o <file.key>');
  const pair = generateKeyPair();
  const pub = writeKeyPair(v.out, pair);
  print({ key: v.out, publicKey: pub, id: pair.publicKey.id, text: publicKeyText(pair.publicKey) });
};

export const sign: Command = async (v, p) => {
  const path = need(p, 1, 'the component file');
  if (!v.key) throw usage('sign needs --key <file.key>');
  const pair = readKeyPair(v.key);
  const bytes = await readComponent(path);
  if (!readManifest(bytes, path)) {
    throw new AgentOSError(
      'AOS_E_BAD_MANIFEST',
      `${path} has no manifest; build it with \`agentos build\` (which embeds agentos.json) before signing`,
    );
  }
  const signed = signComponent(bytes, pair, path);
  const out = v.out ?? path;
  await writeFile(out, signed);
  print({ out, keyId: pair.publicKey.id, sha256: sha256(signed) });
};

/** A public key from a flag: a `.pub` file, a key-pair file (its public half) or `ed25519:…` text. */
function publicKeyFlag(flag: string) {
  if (flag.startsWith('ed25519:')) return parsePublicKey(flag, '--key');
  let bytes: Buffer;
  try {
    bytes = readFileSync(flag);
  } catch (e) {
    throw new AgentOSError('AOS_E_BAD_KEY', `cannot read the key ${flag}: ${(e as Error).message}`);
  }
  if (bytes.length === 65 && bytes[0] === 0x81) return readKeyPair(flag).publicKey;
  return parsePublicKey(bytes, flag);
}

export const verify: Command = async (v, p) => {
  const path = need(p, 1, 'the component file');
  if (!v.key === !v.trust) throw usage('verify needs either --key <file.pub|ed25519:…> or --trust');
  const bytes = await readComponent(path);
  const manifest = readManifest(bytes, path);
  if (v.trust) {
    // Exactly what the kernel's policy decides at load, against this data dir's trust store.
    const policy = new SigningPolicy(TrustStore.at(homeOf(v)), { allowUnsigned: false }, undefined, Date.now);
    const provenance = policy.admit(bytes, sha256(bytes), manifest, path);
    return print({ file: path, verified: true, ...provenance });
  }
  const key = publicKeyFlag(v.key!);
  const report = checkSignatures(bytes, [key], path);
  const ok = report.signatures.some((s) => s.key?.id === key.id);
  if (!ok) {
    const why = !report.signed
      ? 'it is not signed'
      : !report.covered
        ? 'it changed after it was signed'
        : `no signature by key ${key.id} verifies (signed by ${report.signatures.map((s) => s.keyId).join(', ')})`;
    throw new AgentOSError(
      !report.signed
        ? 'AOS_E_UNSIGNED'
        : !report.covered
          ? 'AOS_E_SIGNATURE_MISMATCH'
          : 'AOS_E_UNTRUSTED_KEY',
      `${path}: ${why}`,
    );
  }
  print({ file: path, verified: true, keyId: key.id, publisher: manifest?.publisher ?? null });
};

/** `--expires`: an ISO date or time, in the future. */
function expiry(flag: string | undefined): number | null {
  if (flag === undefined) return null;
  const t = Date.parse(flag);
  if (!Number.isFinite(t)) throw usage(`--expires must be a date (2027-12-31) or an ISO time, got ${flag}`);
  return t;
}

export const trust: Command = async (v, p) => {
  const store = TrustStore.at(homeOf(v));
  const sub = need(p, 1, 'add, list or revoke');
  if (sub === 'list') return print(store.list());
  if (sub === 'add') {
    const publisher = need(p, 2, 'the publisher');
    const key = publicKeyFlag(need(p, 3, 'the public key (a .pub file or ed25519:…)'));
    const capabilities = v.capabilities?.split(',').map((c) => c.trim());
    // The CLI's kernel has the shipped capabilities: a name none of them has is a typo.
    const known = defaultCapabilities.map((c) => c.name);
    const unknown = capabilities?.filter((c) => !known.includes(c)) ?? [];
    if (unknown.length > 0)
      throw usage(`--capabilities names no capability: ${unknown.join(', ')} (known: ${known.join(', ')})`);
    const entry = store.add(publisher, key, {
      now: Date.now(),
      expiresAt: expiry(v.expires),
      ...(capabilities ? { capabilities } : {}),
    });
    return print({ publisher, ...entry });
  }
  if (sub === 'revoke') {
    const revoked = store.revoke(need(p, 2, 'the publisher'), p[3], Date.now());
    return print({ revoked: revoked.map((k) => k.id) });
  }
  throw usage(`trust has no subcommand ${JSON.stringify(sub)}: add, list or revoke`);
};
