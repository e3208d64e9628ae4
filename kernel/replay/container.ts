/**
 * The file format AgentOS's portable files share (a recorded run, `AOSBNDL1`; an exported agent,
 * `AOSAGNT1`): the magic (8 bytes), the format version (u32 LE), the payload's length (u64 LE),
 * the payload's SHA-256 (32 bytes), then the payload: the contents in the hostcall value codec,
 * gzipped. Unpacking checks each of these before anything reads the contents.
 *
 * @example
 * const file = pack('AOSAGNT1', 1, contents);
 * const back = unpack('AOSAGNT1', 1, file, bad);   // or bad('it was cut short ...')
 */
import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { AgentOSError } from '../base/errors.js';
import { decodeValue, encodeToBytes } from '../bridge/codec.js';

const HEADER = 8 + 4 + 8 + 32;
/** The most a file's contents may unpack to. */
const MAX_CONTENTS = 4 * 1024 ** 3 - 1;

export function pack(magic: string, format: number, contents: unknown): Buffer {
  const payload = gzipSync(encodeToBytes(contents, MAX_CONTENTS), { level: 1 });
  const header = Buffer.alloc(HEADER);
  Buffer.from(magic, 'latin1').copy(header, 0);
  header.writeUInt32LE(format, 8);
  header.writeBigUInt64LE(BigInt(payload.length), 12);
  createHash('sha256').update(payload).digest().copy(header, 20);
  return Buffer.concat([header, payload]);
}

/** The contents, unchecked in shape; `bad(why)` makes the error for a file that is not usable. */
export function unpack(
  magic: string,
  format: number,
  bytes: Uint8Array,
  bad: (why: string) => AgentOSError,
): unknown {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length < HEADER || !b.subarray(0, 8).equals(Buffer.from(magic, 'latin1')))
    throw bad(b.length < 8 ? 'it is too short to be one' : `it does not start with ${magic}`);
  const found = b.readUInt32LE(8);
  if (found !== format) throw bad(`it is format ${found}; this AgentOS reads format ${format}`);
  const length = Number(b.readBigUInt64LE(12));
  if (b.length - HEADER !== length)
    throw bad(
      b.length - HEADER < length
        ? `it was cut short (${b.length - HEADER} of ${length} payload bytes)`
        : `it has ${b.length - HEADER - length} bytes after its payload`,
    );
  const payload = b.subarray(HEADER);
  if (!createHash('sha256').update(payload).digest().equals(b.subarray(20, HEADER)))
    throw bad('its payload does not match its checksum (a byte was changed)');
  try {
    return decodeValue(gunzipSync(payload, { maxOutputLength: MAX_CONTENTS }));
  } catch (e) {
    throw bad(`its payload does not unpack (${(e as Error).message})`);
  }
}
