/**
 * Declares a maximum on the memories a core module defines, for processes without V8's wasm
 * trap handler: there V8 reserves each memory's declared maximum up front (4 GiB where none is
 * declared, so 32,000 memories would take all 128 TiB of the process), and bounded memories let
 * the map count, not the address space, set how many instances fit (base/address-space.ts).
 *
 * Only the memory section's limits change: a memory without a maximum gets `maxPages`, one with
 * a larger maximum gets `maxPages`, never less than its initial size. Imported memories are left
 * as they are, and so is a module with a shared or 64-bit memory. The meter's cap (`limits.memoryBytes`, at most the
 * same bound in such a process) stops a grow before the declared maximum could.
 *
 * @example
 * const bounded = declareMemoryMaximum(bytes, BOUNDED_MEMORY_BYTES / 65536, 'echo core');
 */
import { addressSpace, BOUNDED_MEMORY_BYTES } from '../base/address-space.js';
import { AgentOSError } from '../base/errors.js';
import { encodeU32, readU32 } from '../base/wasm-header.js';
import { sectionsOf } from '../signing/sections.js';

const MEMORY_SECTION = 5;
const PAGE = 65536;

/** `bytes` with each defined 32-bit memory's maximum at most `maxPages` (the same bytes if none changes). */
export function declareMemoryMaximum(bytes: Uint8Array, maxPages: number, what: string): Uint8Array {
  const section = sectionsOf(bytes, what).sections.find((s) => s.id === MEMORY_SECTION);
  if (!section) return bytes;
  const bad = (why: string): AgentOSError =>
    new AgentOSError('AOS_E_MALFORMED_COMPONENT', `${what}: its memory section ${why}`, {
      offset: section.start,
    });
  const u32 = (pos: number): [number, number] => {
    const r = readU32(bytes, pos);
    if (r === null || r[1] > section.end) throw bad('ends early');
    return r;
  };
  const [count, first] = u32(section.payloadStart);
  const out: number[] = [...encodeU32(count)];
  let pos = first;
  let changed = false;
  for (let i = 0; i < count; i++) {
    if (pos >= section.end) throw bad('ends early');
    const flags = bytes[pos]!;
    // Only plain 32-bit memories (flags 0 and 1): a module with a shared or 64-bit one is left whole.
    if (flags > 1) return bytes;
    const [min, afterMin] = u32(pos + 1);
    const hasMax = (flags & 1) === 1;
    const [max, end] = hasMax ? u32(afterMin) : [Number.POSITIVE_INFINITY, afterMin];
    const bounded = Math.max(min, maxPages);
    if (max > bounded) {
      out.push(1, ...encodeU32(min), ...encodeU32(bounded));
      changed = true;
    } else {
      out.push(...bytes.subarray(pos, end));
    }
    pos = end;
  }
  if (pos !== section.end) throw bad('has bytes past its memories');
  if (!changed) return bytes;
  const payload = Uint8Array.from(out);
  const header = Uint8Array.from([MEMORY_SECTION, ...encodeU32(payload.length)]);
  const result = new Uint8Array(
    section.start + header.length + payload.length + (bytes.length - section.end),
  );
  result.set(bytes.subarray(0, section.start), 0);
  result.set(header, section.start);
  result.set(payload, section.start + header.length);
  result.set(bytes.subarray(section.end), section.start + header.length + payload.length);
  return result;
}

/** A core module as this process compiles it: bounded where the trap handler is off, else as it is. */
export function boundedForProcess(bytes: Uint8Array, what: string): Uint8Array {
  return addressSpace().trapHandler ? bytes : declareMemoryMaximum(bytes, BOUNDED_MEMORY_BYTES / PAGE, what);
}
