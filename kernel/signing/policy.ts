/**
 * The kernel's signing policy: whether a component may load, and who vouches for it. A
 * component is admitted when a key the trust store trusts (or the embedder pins) signed its
 * bytes as they are, the key is neither revoked nor expired, and it speaks for the publisher
 * its manifest names. Each other case is refused with its own code, before anything is
 * transpiled or stored. `allowUnsigned` admits unsigned components (with a warning on every
 * load), never a tampered or wrongly signed one.
 *
 * @example
 * const policy = new SigningPolicy(TrustStore.at(home), { allowUnsigned: false }, logger, now);
 * const provenance = policy.admit(bytes, digest, manifest, 'echo.wasm');
 * provenance.publisher; // 'agentos-dev'
 */
import type { Logger } from 'pino';
import { AgentOSError } from '../base/errors.js';
import { type PublicKey, parsePublicKey } from './keys.js';
import type { Manifest } from './manifest.js';
import { checkSignatures } from './signature.js';
import type { KnownKey, TrustedPublisher, TrustStore } from './trust.js';

/** A key the embedder trusts in code, beside the data dir's trust store. */
export interface TrustAnchor {
  publisher: string;
  /** `ed25519:<base64>`, or the bytes of a `.pub` file. */
  key: string | Uint8Array;
  capabilities?: string[];
}

export interface PolicyOptions {
  /** Admit components without a signature (development); each such load logs a warning. */
  allowUnsigned?: boolean;
  /** Keys trusted in code, as if in the trust store (never revoked, never expiring). */
  trust?: TrustAnchor[];
}

/** Who vouches for an admitted component. */
export interface Provenance {
  signed: boolean;
  /** The publisher whose trusted key signed it. */
  publisher?: string;
  /** The key id that signed it. */
  keyId?: string;
  /** Capability names the publisher's trust allows; absent: any. */
  allowed?: string[];
}

export class SigningPolicy {
  private readonly anchors: KnownKey[];
  /** Verdicts by digest (and trust-store state): verifying a 12 MB component hashes it again. */
  private readonly verdicts = new Map<string, Provenance>();

  constructor(
    private readonly store: TrustStore,
    private readonly options: PolicyOptions,
    private readonly logger: Logger | undefined,
    private readonly now: () => number,
  ) {
    this.anchors = (options.trust ?? []).map((a, i) => {
      const publicKey: PublicKey = parsePublicKey(a.key, `policy.trust[${i}].key`);
      const publisher: TrustedPublisher = {
        publisher: a.publisher,
        keys: [],
        ...(a.capabilities ? { capabilities: a.capabilities } : {}),
      };
      const entry = { key: '', id: publicKey.id, addedAt: 0, expiresAt: null, revokedAt: null };
      return { publicKey, entry, publisher };
    });
  }

  /**
   * Admits the component or throws why not. `digest`: the sha256 of `bytes` (verdicts are
   * remembered by it for as long as the trust store does not change).
   * @throws AgentOSError AOS_E_UNSIGNED, AOS_E_SIGNATURE_CORRUPT, AOS_E_SIGNATURE_UNSUPPORTED,
   *   AOS_E_SIGNATURE_MISMATCH, AOS_E_SIGNATURE_FORGED, AOS_E_UNTRUSTED_KEY, AOS_E_KEY_REVOKED,
   *   AOS_E_KEY_EXPIRED, AOS_E_UNTRUSTED_PUBLISHER, AOS_E_BAD_MANIFEST
   */
  admit(bytes: Uint8Array, digest: string, manifest: Manifest | null, what: string): Provenance {
    const known = [...this.anchors, ...this.store.known()];
    const now = this.now();
    // Everything of the trust that a verdict depends on: each key, its state, its publisher and
    // what that publisher is allowed.
    const key = `${digest}:${JSON.stringify(
      known.map((k) => [
        k.entry.id,
        k.entry.revokedAt,
        k.entry.expiresAt,
        k.publisher.publisher,
        k.publisher.capabilities,
      ]),
    )}`;
    const cached = this.verdicts.get(key);
    if (cached && this.stillValid(cached, known, now)) return this.warnUnsigned(cached, what);
    const provenance = this.decide(bytes, manifest, known, now, what);
    this.verdicts.set(key, provenance);
    return this.warnUnsigned(provenance, what);
  }

  private stillValid(p: Provenance, known: KnownKey[], now: number): boolean {
    if (!p.signed) return true;
    const k = known.find((x) => x.entry.id === p.keyId);
    return k !== undefined && (k.entry.expiresAt === null || k.entry.expiresAt > now);
  }

  private warnUnsigned(p: Provenance, what: string): Provenance {
    if (!p.signed)
      this.logger?.warn({ component: what }, 'loading an unsigned component (policy allows unsigned)');
    return p;
  }

  private decide(
    bytes: Uint8Array,
    manifest: Manifest | null,
    known: KnownKey[],
    now: number,
    what: string,
  ): Provenance {
    const report = checkSignatures(
      bytes,
      known.map((k) => k.publicKey),
      what,
    );
    if (!report.signed) {
      if (this.options.allowUnsigned) return { signed: false };
      throw new AgentOSError(
        'AOS_E_UNSIGNED',
        `${what} is not signed; sign it with \`agentos sign --key\`, or open the kernel with policy.allowUnsigned for development`,
      );
    }
    if (!report.covered) {
      throw new AgentOSError(
        'AOS_E_SIGNATURE_MISMATCH',
        `${what} changed after it was signed: none of its ${report.stale} signature(s) covers its bytes as they are`,
        { stale: report.stale },
      );
    }
    const forged = report.signatures.find((s) => s.forged);
    if (forged) {
      throw new AgentOSError(
        'AOS_E_SIGNATURE_FORGED',
        `${what} carries a signature that names trusted key ${forged.keyId} but does not verify with it`,
        { keyId: forged.keyId },
      );
    }
    if (!manifest) {
      throw new AgentOSError(
        'AOS_E_BAD_MANIFEST',
        `${what} is signed but carries no manifest (agentos-manifest)`,
      );
    }
    const signers = report.signatures
      .filter((s) => s.key !== null)
      .map((s) => known.find((k) => k.publicKey.id === s.key!.id)!);
    const live = signers.filter((k) => k.entry.revokedAt === null);
    const current = live.filter((k) => k.entry.expiresAt === null || k.entry.expiresAt > now);
    const theirs = current.find((k) => k.publisher.publisher === manifest.publisher);
    if (theirs) {
      return {
        signed: true,
        publisher: theirs.publisher.publisher,
        keyId: theirs.entry.id,
        ...(theirs.publisher.capabilities ? { allowed: theirs.publisher.capabilities } : {}),
      };
    }
    const ids = [...new Set(report.signatures.map((s) => s.keyId))];
    if (current.length > 0) {
      const by = [...new Set(current.map((k) => k.publisher.publisher))].join(', ');
      throw new AgentOSError(
        'AOS_E_UNTRUSTED_PUBLISHER',
        `${what} names publisher ${manifest.publisher}, but the trusted keys that signed it speak for ${by}`,
        { publisher: manifest.publisher, keys: ids },
      );
    }
    if (live.length > 0) {
      throw new AgentOSError(
        'AOS_E_KEY_EXPIRED',
        `${what} is signed only by trusted keys that expired (${live.map((k) => k.entry.id).join(', ')})`,
        { keys: ids },
      );
    }
    if (signers.length > 0) {
      throw new AgentOSError(
        'AOS_E_KEY_REVOKED',
        `${what} is signed only by revoked keys (${signers.map((k) => k.entry.id).join(', ')})`,
        { keys: ids },
      );
    }
    throw new AgentOSError(
      'AOS_E_UNTRUSTED_KEY',
      `${what} is signed by key(s) ${ids.join(', ') || '(unnamed)'}, none of which the trust store trusts`,
      { keys: ids },
    );
  }
}
