/**
 * A component's manifest: who made it, what it is, and the capabilities it may ever be granted.
 * It travels inside the component as the custom section `agentos-manifest` (UTF-8 JSON), so the
 * signature covers it: editing a requested capability afterwards breaks the signature.
 *
 * @example
 * const m = parseManifest(readFileSync('agentos.json'), 'agentos.json');
 * const bytes = withManifest(componentBytes, m, 'echo.wasm');
 * readManifest(bytes, 'echo.wasm'); // m
 */
import { Ajv, type ErrorObject } from 'ajv';
import semver from 'semver';
import { AgentOSError } from '../base/errors.js';
import type { LimitsInput } from '../base/limits.js';
import { SIGNATURE_SECTION } from './format.js';
import { customSection, customSections, sectionsOf } from './sections.js';

export const MANIFEST_SECTION = 'agentos-manifest';

export interface ToolDescriptor {
  name: string;
  description: string;
  /** JSON Schema of the arguments. */
  arguments: Record<string, unknown>;
  /** JSON Schema of the result, when the tool declares one. */
  result?: Record<string, unknown>;
}

export interface Manifest {
  name: string;
  /** Semver. */
  version: string;
  publisher: string;
  description: string;
  world: 'agent' | 'skill';
  /** Capabilities it may be granted, with scopes as grants spell them (`log`, `ipc:send=worker-*`). */
  capabilities: string[];
  /** Limits it suggests; the embedder's spawn options win. */
  limits?: LimitsInput;
  /** A skill's tools. */
  tools?: ToolDescriptor[];
}

const NAME = '^[a-z][a-z0-9-]{0,63}$';
const SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'version', 'publisher', 'description', 'world', 'capabilities'],
  properties: {
    name: { type: 'string', pattern: NAME },
    version: { type: 'string', minLength: 1, maxLength: 64 },
    publisher: { type: 'string', pattern: '^[a-z0-9][a-z0-9._-]{0,63}$' },
    description: { type: 'string', maxLength: 4096 },
    world: { enum: ['agent', 'skill'] },
    capabilities: {
      type: 'array',
      maxItems: 64,
      uniqueItems: true,
      items: { type: 'string', pattern: '^[a-z][a-z0-9-]*(:.*)?$', maxLength: 256 },
    },
    limits: { type: 'object' },
    tools: {
      type: 'array',
      maxItems: 256,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'description', 'arguments'],
        properties: {
          name: { type: 'string', pattern: NAME },
          description: { type: 'string', maxLength: 4096 },
          arguments: { type: ['object', 'boolean'] },
          result: { type: ['object', 'boolean'] },
        },
      },
    },
  },
} as const;

const ajv = new Ajv({ allErrors: true, strict: false });
const validate = ajv.compile(SCHEMA);

const where = (e: ErrorObject): string => `${e.instancePath || '/'} ${e.message ?? 'is not valid'}`;

const bad = (what: string, why: string): AgentOSError =>
  new AgentOSError('AOS_E_BAD_MANIFEST', `${what}: the manifest ${why}`);

/**
 * Checks a manifest given as JSON text, bytes or a parsed value: its shape, its semver, its
 * world's rules (tools only for skills, unique tool names) and each tool's schemas.
 * @throws AgentOSError AOS_E_BAD_MANIFEST naming every problem found.
 */
export function parseManifest(input: string | Uint8Array | unknown, what: string): Manifest {
  let value = input;
  if (typeof input === 'string' || input instanceof Uint8Array) {
    const text = typeof input === 'string' ? input : Buffer.from(input).toString('utf8');
    try {
      value = JSON.parse(text);
    } catch (e) {
      throw bad(what, `is not valid JSON (${(e as Error).message})`);
    }
  }
  if (!validate(value)) throw bad(what, `is not valid: ${(validate.errors ?? []).map(where).join('; ')}`);
  const m = value as Manifest;
  const problems: string[] = [];
  if (semver.valid(m.version) !== m.version)
    problems.push(`version ${JSON.stringify(m.version)} is not semver (1.2.3)`);
  if (m.world === 'agent' && m.tools !== undefined) problems.push('lists tools, but only a skill has tools');
  const asked = new Set<string>();
  for (const c of m.capabilities) {
    const name = c.split(':')[0]!;
    if (asked.has(name))
      problems.push(`requests ${name} more than once (one request per capability, with its whole scope)`);
    asked.add(name);
  }
  const names = new Set<string>();
  for (const t of m.tools ?? []) {
    if (names.has(t.name)) problems.push(`lists tool ${t.name} twice`);
    names.add(t.name);
    for (const part of ['arguments', 'result'] as const) {
      if (t[part] !== undefined && !ajv.validateSchema(t[part]))
        problems.push(`tool ${t.name}: its ${part} is not a JSON Schema`);
    }
  }
  if (problems.length > 0) throw bad(what, problems.join('; '));
  return m;
}

/** The capability each requested entry names (`ipc:send=a` → `ipc`), with its scope. */
export function requested(m: Manifest): Map<string, string> {
  const out = new Map<string, string>();
  for (const c of m.capabilities) {
    const at = c.indexOf(':');
    out.set(at === -1 ? c : c.slice(0, at), at === -1 ? '' : c.slice(at + 1));
  }
  return out;
}

/**
 * The manifest embedded in `bytes`, or null when it has none.
 * @throws AgentOSError AOS_E_BAD_MANIFEST (two manifests, or one that does not parse).
 */
export function readManifest(bytes: Uint8Array, what: string): Manifest | null {
  const found = customSections(sectionsOf(bytes, what), MANIFEST_SECTION);
  if (found.length === 0) return null;
  if (found.length > 1) throw bad(what, `section ${MANIFEST_SECTION} appears ${found.length} times`);
  return parseManifest(found[0]!.content!, what);
}

/**
 * `bytes` with `m` embedded as its last section, replacing any manifest it had. Its signatures
 * are removed: they covered the old content and would never verify again. Sign it afterwards.
 */
export function withManifest(bytes: Uint8Array, m: Manifest, what: string): Buffer {
  const s = sectionsOf(bytes, what);
  const kept = s.sections.filter(
    (x) => !(x.id === 0 && (x.name === MANIFEST_SECTION || x.name === SIGNATURE_SECTION)),
  );
  const section = customSection(MANIFEST_SECTION, Buffer.from(JSON.stringify(m), 'utf8'));
  return Buffer.concat([s.preamble, ...kept.map((x) => bytes.subarray(x.start, x.end)), section]);
}
