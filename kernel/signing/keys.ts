/**
 * Ed25519 keys in the tool-conventions serialization: a public key is 0x01 ‖ 32 bytes, a key
 * pair 0x81 ‖ secret (32) ‖ public (32), so files interoperate with wasmsign2. A public key is
 * also written as text, `ed25519:<base64 of the 32 bytes>`, and named by its key id: the first
 * 8 bytes of SHA-256 over its serialized form, in hex (what a signature carries as key_id).
 *
 * Key-pair files are created with mode 0600 and refused when group or others can read them.
 *
 * @example
 * const pair = generateKeyPair();
 * writeKeyPair('dev.key', pair);
 * const sig = signBytes(readKeyPair('dev.key'), message);
 * verifyBytes(pair.publicKey, message, sig); // true
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
  verify,
} from 'node:crypto';
import { chmodSync, closeSync, lstatSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { AgentOSError } from '../base/errors.js';

const PUBLIC_TAG = 0x01;
const PAIR_TAG = 0x81;
const TEXT_PREFIX = 'ed25519:';

export interface PublicKey {
  /** The 32 raw bytes. */
  raw: Buffer;
  /** Hex key id: the first 8 bytes of SHA-256(0x01 ‖ raw). */
  id: string;
}

export interface KeyPair {
  publicKey: PublicKey;
  /** The 32-byte seed. */
  secret: Buffer;
}

const b64url = (b: Buffer): string => b.toString('base64url');

function publicFromRaw(raw: Buffer): PublicKey {
  const id = createHash('sha256')
    .update(Buffer.concat([Buffer.from([PUBLIC_TAG]), raw]))
    .digest()
    .subarray(0, 8)
    .toString('hex');
  return { raw, id };
}

export function generateKeyPair(): KeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' });
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url');
  return { publicKey: publicFromRaw(raw), secret: Buffer.from(jwk.d!, 'base64url') };
}

/** `ed25519:<base64>`: how a public key is shown and passed to `agentos trust add`. */
export function publicKeyText(k: PublicKey): string {
  return `${TEXT_PREFIX}${k.raw.toString('base64')}`;
}

/**
 * A public key from its text form, or from a file's bytes (0x01 ‖ 32 bytes, or the text form).
 * @throws AgentOSError AOS_E_BAD_KEY naming `what`.
 */
export function parsePublicKey(input: string | Uint8Array, what = 'the public key'): PublicKey {
  if (typeof input !== 'string') {
    const b = Buffer.from(input);
    if (b.length === 33 && b[0] === PUBLIC_TAG) return publicFromRaw(b.subarray(1));
    if (b.length === 65 && b[0] === PAIR_TAG) {
      throw new AgentOSError(
        'AOS_E_BAD_KEY',
        `${what} is a secret key pair, not a public key; pass its .pub file`,
      );
    }
    return parsePublicKey(b.toString('utf8').trim(), what);
  }
  const text = input.trim();
  const raw = text.startsWith(TEXT_PREFIX) ? Buffer.from(text.slice(TEXT_PREFIX.length), 'base64') : null;
  if (raw?.length !== 32 || raw.toString('base64') !== text.slice(TEXT_PREFIX.length)) {
    throw new AgentOSError(
      'AOS_E_BAD_KEY',
      `${what} is not an Ed25519 public key: expected ${TEXT_PREFIX}<base64 of 32 bytes> or a 33-byte .pub file`,
    );
  }
  return publicFromRaw(raw);
}

function privateKeyOf(pair: KeyPair) {
  return createPrivateKey({
    key: { kty: 'OKP', crv: 'Ed25519', d: b64url(pair.secret), x: b64url(pair.publicKey.raw) },
    format: 'jwk',
  });
}

export function signBytes(pair: KeyPair, message: Uint8Array): Buffer {
  return sign(null, message, privateKeyOf(pair));
}

/** Public key objects by raw key (hex): building one costs more than a verification. */
const keyObjects = new Map<string, KeyObject>();

export function verifyBytes(k: PublicKey, message: Uint8Array, signature: Uint8Array): boolean {
  const hex = k.raw.toString('hex');
  let key = keyObjects.get(hex);
  if (!key) {
    key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64url(k.raw) }, format: 'jwk' });
    if (keyObjects.size > 1024) keyObjects.clear();
    keyObjects.set(hex, key);
  }
  try {
    return verify(null, message, key, signature);
  } catch {
    return false;
  }
}

/**
 * Writes a key pair to `path` (mode 0600, never over an existing file) and its public key to
 * `path.pub`. Returns the public key's path.
 * @throws AgentOSError AOS_E_BAD_ARGUMENT when `path` exists.
 */
export function writeKeyPair(path: string, pair: KeyPair): string {
  const pub = `${path}.pub`;
  for (const p of [path, pub]) {
    // lstat: a dangling symlink is in the way too, and is never written through.
    if (lstatSync(p, { throwIfNoEntry: false })) {
      throw new AgentOSError('AOS_E_BAD_ARGUMENT', `${p} exists; a key is never written over another file`);
    }
  }
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o600);
  } catch (e) {
    throw new AgentOSError('AOS_E_BAD_ARGUMENT', `cannot create ${path}: ${(e as Error).message}`);
  }
  try {
    writeSync(fd, Buffer.concat([Buffer.from([PAIR_TAG]), pair.secret, pair.publicKey.raw]));
  } finally {
    closeSync(fd);
  }
  chmodSync(path, 0o600); // the umask cannot widen it, but a filesystem may have ignored the mode
  const pubFd = openSync(pub, 'wx', 0o644);
  try {
    writeSync(pubFd, Buffer.concat([Buffer.from([PUBLIC_TAG]), pair.publicKey.raw]));
  } finally {
    closeSync(pubFd);
  }
  return pub;
}

/**
 * Reads a key pair file. Its bytes are never put in an error message.
 * @throws AgentOSError AOS_E_BAD_KEY (missing, not a key pair, readable by group or others).
 */
export function readKeyPair(path: string): KeyPair {
  let mode: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new Error('not a file');
    mode = st.mode;
  } catch {
    throw new AgentOSError('AOS_E_BAD_KEY', `no key file at ${path}`, { path });
  }
  if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
    throw new AgentOSError(
      'AOS_E_BAD_KEY',
      `${path} can be read by others (mode ${(mode & 0o777).toString(8)}); run chmod 600 ${path}`,
      { path },
    );
  }
  const b = readFileSync(path);
  if (b.length !== 65 || b[0] !== PAIR_TAG) {
    throw new AgentOSError(
      'AOS_E_BAD_KEY',
      `${path} is not an Ed25519 key pair (0x81 ‖ secret ‖ public, 65 bytes)`,
      {
        path,
      },
    );
  }
  const pair = { secret: b.subarray(1, 33), publicKey: publicFromRaw(b.subarray(33)) };
  // A file whose halves do not belong together would sign with one key and name another.
  const probe = Buffer.from('agentos key check');
  if (!verifyBytes(pair.publicKey, probe, signBytes(pair, probe))) {
    throw new AgentOSError('AOS_E_BAD_KEY', `${path}: its public half does not match its secret half`, {
      path,
    });
  }
  return pair;
}
