/**
 * The top-level sections of a WebAssembly binary (module or component), as byte ranges of the
 * file, and custom sections built from a name and a payload. Signing hashes these ranges as
 * they are in the file; the manifest and the signature live in custom sections.
 *
 * @example
 * const { preamble, sections } = sectionsOf(bytes, 'echo.wasm');
 * const manifest = sections.find((s) => s.name === 'agentos-manifest');
 * const out = Buffer.concat([preamble, customSection('note', Buffer.from('hi')), ...rest]);
 */
import { AgentOSError } from '../base/errors.js';
import { encodeU32, readU32, readWasmHeader } from '../base/wasm-header.js';

/** A top-level section: `bytes.subarray(start, end)` is the whole section, header included. */
export interface Section {
  /** Section id (0: custom). */
  id: number;
  start: number;
  end: number;
  /** Where the payload starts (after the id and size; for a custom section, before its name). */
  payloadStart: number;
  /** A custom section's name. */
  name?: string;
  /** A custom section's content (after its name). */
  content?: Uint8Array;
}

export interface Sections {
  /** The 8-byte preamble: magic, version and layer. */
  preamble: Uint8Array;
  sections: Section[];
}

/**
 * Splits `bytes` into its top-level sections.
 * @throws AgentOSError AOS_E_NOT_WASM, AOS_E_TRUNCATED, AOS_E_MALFORMED_COMPONENT.
 */
export function sectionsOf(bytes: Uint8Array, what: string): Sections {
  readWasmHeader(bytes, what); // clear errors for non-wasm and truncated files
  const sections: Section[] = [];
  let pos = 8;
  while (pos < bytes.length) {
    const start = pos;
    const id = bytes[pos]!;
    const size = readU32(bytes, pos + 1)!; // readWasmHeader checked every section fits
    const payloadStart = size[1];
    const end = payloadStart + size[0];
    const section: Section = { id, start, end, payloadStart };
    if (id === 0) {
      const len = readU32(bytes, payloadStart);
      if (len === null || len[1] + len[0] > end) {
        throw new AgentOSError(
          'AOS_E_MALFORMED_COMPONENT',
          `${what}: custom section ${sections.length} has a bad name`,
          {
            offset: start,
          },
        );
      }
      section.name = Buffer.from(bytes.subarray(len[1], len[1] + len[0])).toString('utf8');
      section.content = bytes.subarray(len[1] + len[0], end);
    }
    sections.push(section);
    pos = end;
  }
  return { preamble: bytes.subarray(0, 8), sections };
}

/** A custom section: id 0, size, name, content. */
export function customSection(name: string, content: Uint8Array): Uint8Array {
  const nameBytes = Buffer.from(name, 'utf8');
  const payload = Buffer.concat([Buffer.from(encodeU32(nameBytes.length)), nameBytes, content]);
  return Buffer.concat([Buffer.from([0]), Buffer.from(encodeU32(payload.length)), payload]);
}

/** The custom sections named `name`, in file order. */
export function customSections(s: Sections, name: string): Section[] {
  return s.sections.filter((x) => x.id === 0 && x.name === name);
}

/** `bytes` without its custom sections named in `names` (a signature, a manifest). */
export function withoutCustomSections(bytes: Uint8Array, names: readonly string[], what: string): Buffer {
  const s = sectionsOf(bytes, what);
  const kept = s.sections.filter((x) => !(x.id === 0 && names.includes(x.name!)));
  return Buffer.concat([s.preamble, ...kept.map((x) => bytes.subarray(x.start, x.end))]);
}
