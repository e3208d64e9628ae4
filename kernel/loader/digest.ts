/** The sha256 of bytes, in hex: a component's digest, and the cache's keys. */
import { createHash } from 'node:crypto';

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
