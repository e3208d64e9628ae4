/**
 * What a component file held when it was last read, by path, so that a spawn by path of an
 * unchanged file is answered by digest: no read, no hash (a 12 MB component takes ~10 ms to hash).
 *
 * A file counts as unchanged while its device, inode, size, modification and change times are
 * what they were when it was read (a write or a rename over it changes the change time, which no
 * user can set back). A file whose times are less than two seconds old when it is read is not
 * remembered: a filesystem with coarse timestamps could let it change again within the same
 * tick, unseen (git's "racy" rule). Nor is one that changed while it was read.
 *
 * @example
 * const before = statOf(path);
 * const digest = digests.known(path, before); // null: read and hash it, then
 * digests.remember(path, before, info.digest);
 */
import { type BigIntStats, statSync } from 'node:fs';
import { resolve } from 'node:path';

/** Files changed this recently (ns) are read every time. */
const RACY_NS = 2_000_000_000n;
/** Paths remembered at most; the oldest goes first. */
const MAX_PATHS = 4096;

/** The file's identity and times, or null when it cannot be stat'ed. */
export function statOf(path: string): BigIntStats | null {
  try {
    return statSync(path, { bigint: true });
  } catch {
    return null;
  }
}

const keyOf = (s: BigIntStats): string => `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;

export class PathDigests {
  private readonly seen = new Map<string, { key: string; digest: string }>();

  /** @param racyNs files whose times are younger than this (ns) when read are not remembered */
  constructor(private readonly racyNs = RACY_NS) {}

  /** The digest of the file at `path` as `stat` finds it, if it is the file last read there. */
  known(path: string, stat: BigIntStats | null): string | null {
    if (!stat) return null;
    const s = this.seen.get(resolve(path));
    return s && s.key === keyOf(stat) ? s.digest : null;
  }

  /**
   * Remembers that the file at `path`, as `before` (stat'ed before it was read) found it, holds
   * `digest`; unless it changed since, or too recently to trust its times.
   */
  remember(path: string, before: BigIntStats | null, digest: string): void {
    const after = statOf(path);
    if (!before || !after || keyOf(after) !== keyOf(before)) return;
    const now = BigInt(Date.now()) * 1_000_000n;
    if (now - before.mtimeNs < this.racyNs || now - before.ctimeNs < this.racyNs) return;
    const at = resolve(path);
    this.seen.delete(at);
    if (this.seen.size >= MAX_PATHS) this.seen.delete(this.seen.keys().next().value!);
    this.seen.set(at, { key: keyOf(before), digest });
  }

  /** Forgets `path` (its digest's bytes are gone). */
  forget(path: string): void {
    this.seen.delete(resolve(path));
  }
}
