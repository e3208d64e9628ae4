/**
 * The payload of a `signature` custom section, in the WebAssembly tool-conventions signature
 * format (Signatures.md, laid out as its reference implementation wasmsign2 writes it):
 *
 *   spec_version 0x01 · content_type 0x01 · hash_fn 0x01 (SHA-256) · count ·
 *   count × slice(signed hashes)
 *   signed hashes = count · count × 32-byte hash · count · count × slice(signature)
 *   signature     = slice(key id) · algorithm 0x01 (Ed25519) · slice(signature bytes)
 *
 * where a slice is a LEB128 length and that many bytes. What is signed is
 * "wasmsig" ‖ 0x01 ‖ 0x01 ‖ 0x01 ‖ h1 ‖ … ‖ hn (signedMessage).
 */
import { AgentOSError } from '../base/errors.js';
import { encodeU32, readU32 } from '../base/wasm-header.js';

export const SPEC_VERSION = 0x01;
export const CONTENT_TYPE_WASM = 0x01;
export const HASH_SHA256 = 0x01;
export const ALG_ED25519 = 0x01;
export const SIGNATURE_SECTION = 'signature';
export const DELIMITER_SECTION = 'signature_delimiter';
const DOMAIN = 'wasmsig';
/** Bounds from the reference implementation: a section claiming more is not trusted. */
const MAX_HASHES = 64;
const MAX_SIGNATURES = 256;

export interface SignatureRecord {
  /** Public key identifier; empty when the signer gave none. */
  keyId: Uint8Array;
  algorithm: number;
  signature: Uint8Array;
}

export interface SignedHashes {
  /** h1 … hn: SHA-256 of the module up to and including each delimiter (one: the whole module). */
  hashes: Uint8Array[];
  signatures: SignatureRecord[];
}

export interface SignatureData {
  sets: SignedHashes[];
}

/** The bytes a signature over `hashes` signs. */
export function signedMessage(hashes: readonly Uint8Array[]): Buffer {
  return Buffer.concat([
    Buffer.from(DOMAIN, 'ascii'),
    Buffer.from([SPEC_VERSION, CONTENT_TYPE_WASM, HASH_SHA256]),
    ...hashes,
  ]);
}

const slice = (b: Uint8Array): Buffer => Buffer.concat([Buffer.from(encodeU32(b.length)), b]);

export function encodeSignatureData(data: SignatureData): Buffer {
  const sets = data.sets.map((set) => {
    const sigs = set.signatures.map((s) =>
      slice(Buffer.concat([slice(s.keyId), Buffer.from([s.algorithm]), slice(s.signature)])),
    );
    return slice(
      Buffer.concat([
        Buffer.from(encodeU32(set.hashes.length)),
        ...set.hashes,
        Buffer.from(encodeU32(sigs.length)),
        ...sigs,
      ]),
    );
  });
  return Buffer.concat([
    Buffer.from([SPEC_VERSION, CONTENT_TYPE_WASM, HASH_SHA256]),
    Buffer.from(encodeU32(sets.length)),
    ...sets,
  ]);
}

/** Reads the payload of a signature section, checking every length against what is there. */
class Reader {
  pos = 0;
  constructor(
    private readonly bytes: Uint8Array,
    private readonly what: string,
  ) {}

  fail(why: string): never {
    throw new AgentOSError(
      'AOS_E_SIGNATURE_CORRUPT',
      `${this.what}: the signature section is corrupt: ${why}`,
      {
        offset: this.pos,
      },
    );
  }

  byte(): number {
    if (this.pos >= this.bytes.length) this.fail('it ends early');
    return this.bytes[this.pos++]!;
  }

  u32(): number {
    const r = readU32(this.bytes, this.pos);
    if (r === null) this.fail('it ends inside a length');
    this.pos = r[1];
    return r[0];
  }

  take(n: number): Uint8Array {
    if (this.pos + n > this.bytes.length) this.fail(`it ends early (${n} bytes needed at ${this.pos})`);
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  slice(): Reader {
    return new Reader(this.take(this.u32()), this.what);
  }

  get done(): boolean {
    return this.pos === this.bytes.length;
  }
}

/**
 * Decodes a signature section's payload.
 * @throws AgentOSError AOS_E_SIGNATURE_CORRUPT (truncated, trailing bytes, over the bounds) or
 *   AOS_E_SIGNATURE_UNSUPPORTED (another spec version, content type, hash or algorithm).
 */
export function decodeSignatureData(payload: Uint8Array, what: string): SignatureData {
  const r = new Reader(payload, what);
  const version = r.byte();
  const contentType = r.byte();
  const hashFn = r.byte();
  if (version !== SPEC_VERSION || contentType !== CONTENT_TYPE_WASM || hashFn !== HASH_SHA256) {
    throw new AgentOSError(
      'AOS_E_SIGNATURE_UNSUPPORTED',
      `${what} is signed with spec version ${version}, content type ${contentType} and hash ${hashFn}; this kernel reads version 1, content type 1 (wasm) and hash 1 (SHA-256)`,
    );
  }
  const count = r.u32();
  if (count > MAX_HASHES) r.fail(`${count} signed hash sets (at most ${MAX_HASHES})`);
  const sets: SignedHashes[] = [];
  for (let i = 0; i < count; i++) {
    const s = r.slice();
    const n = s.u32();
    if (n === 0 || n > MAX_HASHES) s.fail(`a set of ${n} hashes (1 to ${MAX_HASHES})`);
    const hashes: Uint8Array[] = [];
    for (let j = 0; j < n; j++) hashes.push(s.take(32));
    const m = s.u32();
    if (m > MAX_SIGNATURES) s.fail(`${m} signatures (at most ${MAX_SIGNATURES})`);
    const signatures: SignatureRecord[] = [];
    for (let j = 0; j < m; j++) {
      const g = s.slice();
      const keyId = g.take(g.u32());
      const algorithm = g.byte();
      const signature = g.take(g.u32());
      if (!g.done) g.fail('trailing bytes after a signature');
      if (algorithm !== ALG_ED25519) {
        throw new AgentOSError(
          'AOS_E_SIGNATURE_UNSUPPORTED',
          `${what} carries a signature with algorithm ${algorithm}; this kernel verifies Ed25519 (1)`,
        );
      }
      if (signature.length !== 64) g.fail(`an Ed25519 signature of ${signature.length} bytes (64 expected)`);
      signatures.push({ keyId, algorithm, signature });
    }
    if (!s.done) s.fail('trailing bytes after a set of signatures');
    sets.push({ hashes, signatures });
  }
  if (!r.done) r.fail('trailing bytes after the last set');
  return { sets };
}
