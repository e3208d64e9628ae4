/**
 * Signing and checking a component in the tool-conventions format: a `signature` custom section
 * first, carrying Ed25519 signatures over SHA-256 hashes of every section after it (so the
 * manifest, every import and every byte of code are covered). Several signers may sign the same
 * bytes; signing again with another key adds a signature and changes nothing else.
 *
 * Only whole-component signatures count: a set of hashes must cover every section up to the
 * end. Partial signatures (which the format allows) are ignored, as the format asks of runtimes.
 *
 * @example
 * const signed = signComponent(bytes, readKeyPair('dev.key'), 'echo.wasm');
 * const report = checkSignatures(signed, [pair.publicKey], 'echo.wasm');
 * report.signatures[0].valid; // true
 */
import { createHash } from 'node:crypto';
import { AgentOSError } from '../base/errors.js';
import {
  ALG_ED25519,
  DELIMITER_SECTION,
  decodeSignatureData,
  encodeSignatureData,
  SIGNATURE_SECTION,
  type SignatureData,
  type SignedHashes,
  signedMessage,
} from './format.js';
import { type KeyPair, type PublicKey, signBytes, verifyBytes } from './keys.js';
import { customSection, type Section, sectionsOf } from './sections.js';

interface Parsed {
  preamble: Uint8Array;
  /** The signature data, or null when the component is not signed. */
  data: SignatureData | null;
  /** Every section after the signature section. */
  body: Section[];
}

function parse(bytes: Uint8Array, what: string): Parsed {
  const { preamble, sections } = sectionsOf(bytes, what);
  const first = sections[0];
  const signed = first?.id === 0 && first.name === SIGNATURE_SECTION;
  const body = signed ? sections.slice(1) : sections;
  const stray = body.findIndex((s) => s.id === 0 && s.name === SIGNATURE_SECTION);
  if (stray >= 0) {
    throw new AgentOSError(
      'AOS_E_SIGNATURE_CORRUPT',
      `${what}: a signature section must be the first section; one is at section ${stray + (signed ? 1 : 0)}`,
    );
  }
  return { preamble, data: signed ? decodeSignatureData(first.content!, what) : null, body };
}

/**
 * The rolling hashes of the sections after the signature: one at each delimiter, and one at the
 * end unless the last section is a delimiter.
 */
function hashesOf(bytes: Uint8Array, body: readonly Section[]): Buffer[] {
  const h = createHash('sha256');
  const out: Buffer[] = [];
  let atDelimiter = false;
  for (const s of body) {
    h.update(bytes.subarray(s.start, s.end));
    atDelimiter = s.id === 0 && s.name === DELIMITER_SECTION;
    if (atDelimiter) out.push(h.copy().digest());
  }
  if (!atDelimiter) out.push(h.digest());
  return out;
}

/** The most distinct signatures over a component's content that are checked. */
export const MAX_CHECKED = 16;

const sameHashes = (a: readonly Uint8Array[], b: readonly Uint8Array[]): boolean =>
  a.length === b.length && a.every((x, i) => Buffer.compare(x, b[i]!) === 0);

/**
 * `bytes` with a signature by `pair` added. Signatures over other content (made before the
 * component last changed) are dropped: they could never verify again.
 * @throws AgentOSError AOS_E_SIGNATURE_CORRUPT (a damaged existing signature section),
 *   AOS_E_BAD_ARGUMENT (already signed by this key).
 */
export function signComponent(bytes: Uint8Array, pair: KeyPair, what: string): Buffer {
  const { preamble, data, body } = parse(bytes, what);
  const hashes = hashesOf(bytes, body);
  const keyId = Buffer.from(pair.publicKey.id, 'hex');
  const signature = { keyId, algorithm: ALG_ED25519, signature: signBytes(pair, signedMessage(hashes)) };
  const current = (data?.sets ?? []).filter((s) => sameHashes(s.hashes, hashes));
  const set: SignedHashes = current[0] ?? { hashes, signatures: [] };
  if (set.signatures.some((s) => Buffer.compare(s.keyId, keyId) === 0)) {
    throw new AgentOSError('AOS_E_BAD_ARGUMENT', `${what} is already signed by key ${pair.publicKey.id}`);
  }
  set.signatures.push(signature);
  const section = customSection(SIGNATURE_SECTION, encodeSignatureData({ sets: [set] }));
  const rest = body.length > 0 ? bytes.subarray(body[0]!.start) : new Uint8Array();
  return Buffer.concat([preamble, section, rest]);
}

/** One signature over the component's current content. */
export interface SignatureCheck {
  /** The key id it names (hex; empty when it names none). */
  keyId: string;
  /** The known key it verifies with; null when none of the given keys verifies it. */
  key: PublicKey | null;
  /** A given key has its key id, yet the signature does not verify: it was forged or damaged. */
  forged: boolean;
}

export interface SignatureReport {
  signed: boolean;
  /** Some signed set of hashes covers the whole component as it is now. */
  covered: boolean;
  /** The signatures over the current content (empty when not covered). */
  signatures: SignatureCheck[];
  /** Signatures over other content: the component changed after they were made. */
  stale: number;
}

/**
 * Checks every signature of `bytes` against `keys` (a signature that names a key id is tried
 * with that key only). Says what it found; deciding whether it is enough is the policy's call.
 * @throws AgentOSError AOS_E_SIGNATURE_CORRUPT, AOS_E_SIGNATURE_UNSUPPORTED, or the errors of
 *   a file that is not wasm.
 */
export function checkSignatures(
  bytes: Uint8Array,
  keys: readonly PublicKey[],
  what: string,
): SignatureReport {
  const { data, body } = parse(bytes, what);
  if (!data) return { signed: false, covered: false, signatures: [], stale: 0 };
  const hashes = hashesOf(bytes, body);
  const signatures: SignatureCheck[] = [];
  const seen = new Set<string>();
  let stale = 0;
  for (const set of data.sets) {
    if (!sameHashes(set.hashes, hashes)) {
      stale += set.signatures.length;
      continue;
    }
    const message = signedMessage(set.hashes);
    for (const s of set.signatures) {
      // The same record twice proves nothing more; each distinct one costs verifications, so a
      // component may carry only so many over its content (a bound on the work a load does).
      const record = `${Buffer.from(s.keyId).toString('hex')}:${Buffer.from(s.signature).toString('hex')}`;
      if (seen.has(record)) continue;
      seen.add(record);
      if (seen.size > MAX_CHECKED) {
        throw new AgentOSError(
          'AOS_E_SIGNATURE_CORRUPT',
          `${what} carries more than ${MAX_CHECKED} distinct signatures over its content; this kernel checks at most ${MAX_CHECKED}`,
        );
      }
      const keyId = Buffer.from(s.keyId).toString('hex');
      const candidates = keyId === '' ? keys : keys.filter((k) => k.id === keyId);
      const key = candidates.find((k) => verifyBytes(k, message, s.signature)) ?? null;
      signatures.push({ keyId, key, forged: key === null && keyId !== '' && candidates.length > 0 });
    }
  }
  return { signed: true, covered: signatures.length > 0, signatures, stale };
}

/** `bytes` without its signature section (what was signed, as it was before signing). */
export function unsigned(bytes: Uint8Array, what: string): Buffer {
  const { preamble, body } = parse(bytes, what);
  const rest = body.length > 0 ? bytes.subarray(body[0]!.start) : new Uint8Array();
  return Buffer.concat([preamble, rest]);
}
