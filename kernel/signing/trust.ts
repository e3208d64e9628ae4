/**
 * The trust store: which publishers' keys this data dir trusts, until when, and which keys it
 * revoked. It is `trust.json` in the data dir, written whole and atomically, so `agentos trust`
 * can change it while a kernel runs; the kernel reads it again whenever the file changed.
 *
 * A key is trusted for one publisher only: a component signed by it must name that publisher in
 * its manifest. A publisher may be limited to some capabilities (`capabilities`): what its
 * components are granted never goes beyond them.
 *
 * @example
 * const trust = TrustStore.at('./.agentos');
 * trust.add('acme', parsePublicKey('ed25519:…'), { expiresAt: Date.parse('2027-12-31') });
 * trust.revoke('acme', 'a1b2c3d4e5f60718', Date.now());
 */
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from '../base/atomic-write.js';
import { AgentOSError } from '../base/errors.js';
import { type PublicKey, parsePublicKey, publicKeyText } from './keys.js';

export interface TrustedKey {
  /** `ed25519:<base64>`. */
  key: string;
  /** Its key id (hex). */
  id: string;
  /** Kernel-clock ms. */
  addedAt: number;
  /** Not trusted from this time on (ms); null: no expiry. */
  expiresAt: number | null;
  /** Revoked at this time (ms); null: not revoked. */
  revokedAt: number | null;
}

export interface TrustedPublisher {
  publisher: string;
  keys: TrustedKey[];
  /** Capability names its components may be granted; absent: any. */
  capabilities?: string[];
}

interface TrustFile {
  version: 1;
  publishers: TrustedPublisher[];
}

/** A key as the policy sees it: the key, its entry and its publisher. */
export interface KnownKey {
  publicKey: PublicKey;
  entry: TrustedKey;
  publisher: TrustedPublisher;
}

const PUBLISHER = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const CAPABILITY = /^[a-z][a-z0-9-]{0,63}$/;

const isTime = (v: unknown): boolean => v === null || (typeof v === 'number' && Number.isFinite(v));

/** Checks every field of a trust file read from disk (it may have been edited by hand). */
function checkFile(file: TrustFile): void {
  if (file?.version !== 1 || !Array.isArray(file.publishers)) throw new Error('not a version 1 trust store');
  const owner = new Map<string, string>();
  for (const p of file.publishers) {
    if (typeof p?.publisher !== 'string' || !PUBLISHER.test(p.publisher))
      throw new Error('a publisher name is not valid');
    if (!Array.isArray(p.keys)) throw new Error(`publisher ${p.publisher} has no key list`);
    if (
      p.capabilities !== undefined &&
      !(
        Array.isArray(p.capabilities) &&
        p.capabilities.every((c) => typeof c === 'string' && CAPABILITY.test(c))
      )
    )
      throw new Error(`publisher ${p.publisher}: capabilities must be a list of names`);
    for (const k of p.keys) {
      const key = parsePublicKey(String(k?.key), `a key of ${p.publisher}`);
      if (k.id !== key.id)
        throw new Error(`publisher ${p.publisher}: key ${k.id} is not the id of its key (${key.id})`);
      if (!isTime(k.expiresAt) || !isTime(k.revokedAt) || !isTime(k.addedAt ?? null))
        throw new Error(`publisher ${p.publisher}: key ${k.id} has a time that is not a number of ms`);
      const other = owner.get(key.id);
      if (other && other !== p.publisher)
        throw new Error(`key ${key.id} is trusted for both ${other} and ${p.publisher}`);
      owner.set(key.id, p.publisher);
    }
  }
}

export class TrustStore {
  private cache: { stamp: string; file: TrustFile } | null = null;

  private constructor(readonly path: string) {}

  /** The trust store of data dir `home` (it need not exist yet). */
  static at(home: string): TrustStore {
    return new TrustStore(join(home, 'trust.json'));
  }

  private stamp(): string {
    const st = statSync(this.path, { throwIfNoEntry: false });
    return st ? `${st.mtimeMs}:${st.size}:${st.ino}` : 'none';
  }

  /**
   * The file as it is now (read again only when it changed).
   * @throws AgentOSError AOS_E_DATA_DIR (problem `trust-store`) when it is damaged.
   */
  private read(): TrustFile {
    const stamp = this.stamp();
    if (this.cache?.stamp === stamp) return this.cache.file;
    let file: TrustFile = { version: 1, publishers: [] };
    if (existsSync(this.path)) {
      try {
        file = JSON.parse(readFileSync(this.path, 'utf8')) as TrustFile;
        checkFile(file);
      } catch (e) {
        throw new AgentOSError(
          'AOS_E_DATA_DIR',
          `the trust store ${this.path} is damaged (${(e as Error).message}); fix or remove it, then trust the keys again`,
          { problem: 'trust-store', path: this.path },
        );
      }
    }
    this.cache = { stamp, file };
    return file;
  }

  private write(file: TrustFile): void {
    mkdirSync(dirname(this.path), { recursive: true });
    writeFileAtomic(this.path, `${JSON.stringify(file, null, 2)}\n`);
    this.cache = null;
  }

  /** Every trusted publisher and its keys (revoked and expired ones included). */
  list(): TrustedPublisher[] {
    return structuredClone(this.read().publishers);
  }

  /** Every key the store knows, with its entry and publisher. */
  known(): KnownKey[] {
    return this.read().publishers.flatMap((publisher) =>
      publisher.keys.map((entry) => ({ publicKey: parsePublicKey(entry.key), entry, publisher })),
    );
  }

  /**
   * Trusts `key` for `publisher` (adding the publisher if new). Trusting a key again renews it:
   * a new expiry, and no longer revoked.
   * @throws AgentOSError AOS_E_BAD_ARGUMENT for a bad publisher name, a key trusted for another
   *   publisher, or an expiry in the past.
   */
  add(
    publisher: string,
    key: PublicKey,
    options: { now: number; expiresAt?: number | null; capabilities?: string[] },
  ): TrustedKey {
    if (!PUBLISHER.test(publisher)) {
      throw new AgentOSError(
        'AOS_E_BAD_ARGUMENT',
        `publisher ${JSON.stringify(publisher)} is not a publisher name (a-z, 0-9, '.', '_' and '-', at most 64)`,
      );
    }
    const expiresAt = options.expiresAt ?? null;
    if (expiresAt !== null && !(Number.isFinite(expiresAt) && expiresAt > options.now)) {
      throw new AgentOSError('AOS_E_BAD_ARGUMENT', 'the expiry must be a time in the future');
    }
    for (const c of options.capabilities ?? [])
      if (typeof c !== 'string' || !CAPABILITY.test(c))
        throw new AgentOSError(
          'AOS_E_BAD_ARGUMENT',
          `${JSON.stringify(c)} is not a capability name (a-z, 0-9 and '-', starting with a letter)`,
        );
    const file = structuredClone(this.read());
    const other = file.publishers.find(
      (p) => p.publisher !== publisher && p.keys.some((k) => k.id === key.id),
    );
    if (other) {
      throw new AgentOSError(
        'AOS_E_BAD_ARGUMENT',
        `key ${key.id} is already trusted for publisher ${other.publisher}; a key speaks for one publisher`,
      );
    }
    let entry = file.publishers.find((p) => p.publisher === publisher);
    if (!entry) {
      entry = { publisher, keys: [] };
      file.publishers.push(entry);
    }
    if (options.capabilities !== undefined) entry.capabilities = [...options.capabilities];
    const trusted: TrustedKey = {
      key: publicKeyText(key),
      id: key.id,
      addedAt: options.now,
      expiresAt,
      revokedAt: null,
    };
    entry.keys = [...entry.keys.filter((k) => k.id !== key.id), trusted];
    this.write(file);
    return trusted;
  }

  /**
   * Revokes one key of `publisher` (by key id), or all of its keys (`keyId` undefined). Revoked
   * keys stay listed, so a component signed by one is refused as revoked, not as unknown.
   * @throws AgentOSError AOS_E_BAD_ARGUMENT when the publisher or key is not in the store.
   */
  revoke(publisher: string, keyId: string | undefined, now: number): TrustedKey[] {
    const file = structuredClone(this.read());
    const entry = file.publishers.find((p) => p.publisher === publisher);
    if (!entry)
      throw new AgentOSError('AOS_E_BAD_ARGUMENT', `publisher ${publisher} is not in the trust store`);
    const keys = entry.keys.filter((k) => keyId === undefined || k.id === keyId);
    if (keys.length === 0)
      throw new AgentOSError(
        'AOS_E_BAD_ARGUMENT',
        `publisher ${publisher} has no key ${keyId} in the trust store`,
      );
    for (const k of keys) k.revokedAt ??= now;
    this.write(file);
    return keys;
  }
}
