/**
 * Everything `spawn` checks before it stores anything: the component bytes and their world, its
 * imports against the grants, each grant and its scope (each granted capability's own `configure`
 * runs on a draft record), and each option. Every problem found is reported at once, in one
 * AgentOSError (kernel/base/errors.ts `refusal`), most important first: imports, exports, grants,
 * grant scopes, options. Only when all pass does spawn transpile, keep the bytes and record the agent.
 *
 * @example
 * const c = await checkSpawn('echo.wasm', { grants: ['log'] }, checks);   // or throws every problem
 * const record = newRecord(c, 'echo-1a2b3c', Date.now());
 */
import { randomBytes } from 'node:crypto';
import type { BigIntStats } from 'node:fs';
import { basename } from 'node:path';
import type { SpawnOptions } from './api.js';
import { AgentOSError, refusal } from './base/errors.js';
import { jsonText } from './base/json.js';
import { checkPriority, checkWeight, type Limits, type Priority, resolveLimits } from './base/limits.js';
import { checkGrants, type HostcallTable, importProblems } from './hostcall/linker.js';
import { type ComponentInfo, readComponent } from './loader/loader.js';
import { type PathDigests, statOf } from './loader/path-digests.js';
import type { Capability, Grant } from './sdk/capability.js';
import { effectiveGrants, importsNotRequested } from './signing/grants.js';
import type { Provenance } from './signing/policy.js';
import {
  type AgentProvenance,
  type AgentRecord,
  emptyStats,
  type RestartPolicy,
} from './store/process-table.js';

export interface CheckedSpawn {
  bytes: Uint8Array;
  info: ComponentInfo & { world: 'agent' | 'skill' };
  /** How errors name the component (its path, or `component`). */
  what: string;
  grants: string[];
  config: string;
  restart: RestartPolicy;
  seed: string;
  name: string;
  limits: Limits;
  priority: Priority;
  weight: number;
  /** Who vouches for it, what its manifest requested and what the embedder granted. */
  provenance: AgentProvenance;
}

/** What the checks need from the kernel. */
export interface SpawnChecks {
  inspect(bytes: Uint8Array, what: string): Promise<ComponentInfo>;
  /**
   * A component this kernel keeps, by digest (`sha256:<hex>`): its bytes and inspection, read and
   * checked once. @throws AgentOSError AOS_E_COMPONENT_NOT_FOUND, AOS_E_DIGEST_MISMATCH
   */
  byDigest(digest: string): Promise<{ bytes: Uint8Array; info: ComponentInfo }>;
  /**
   * The installed component a reference names (`text-stats`, `text-stats@^1.2`), or null when
   * `component` is a path. @throws AgentOSError AOS_E_NOT_INSTALLED
   */
  fromCatalog(component: string): { bytes: Uint8Array; what: string; name: string } | null;
  /** What the files spawned by path held when last read (a spawn of an unchanged one skips the read). */
  paths: PathDigests;
  /** The signing policy's verdict: who vouches for the component, or why it may not load. */
  admit(bytes: Uint8Array, info: ComponentInfo, what: string): Provenance;
  defaults: Limits;
  table: HostcallTable;
  /** Builds the capability's view of `draft` for `grant`; throws AOS_E_BAD_CONFIG for a bad scope. */
  configure(capability: Capability, draft: Readonly<AgentRecord>, grant: Grant): void;
}

/** A spawn by digest: `sha256:` and the component's 64 hex digits. */
const DIGEST_REF = /^sha256:([0-9a-f]{64})$/;

const OPTIONS: readonly (keyof SpawnOptions)[] = [
  'grants',
  'config',
  'name',
  'restart',
  'seed',
  'limits',
  'priority',
  'weight',
];

/** Reads and inspects the component and checks everything else, throwing every problem at once. */
export async function checkSpawn(
  component: string | Uint8Array,
  options: SpawnOptions,
  checks: SpawnChecks,
): Promise<CheckedSpawn> {
  if (typeof options !== 'object' || options === null || Array.isArray(options))
    throw new AgentOSError('AOS_E_BAD_ARGUMENT', 'spawn options must be an object');
  // `sha256:<hex>`: a component the kernel keeps, spawned without reading or hashing it again.
  const digest = typeof component === 'string' ? DIGEST_REF.exec(component)?.[1] : undefined;
  const installed = typeof component === 'string' && !digest ? checks.fromCatalog(component) : null;
  const what = installed?.what ?? (typeof component === 'string' ? component : 'component');
  let bytes: Uint8Array;
  let kept: { bytes: Uint8Array; info: ComponentInfo } | undefined;
  let before: BigIntStats | null = null;
  if (digest) ({ bytes } = kept = await checks.byDigest(digest));
  else if (installed) bytes = installed.bytes;
  else if (typeof component === 'string') {
    // A file unchanged since this kernel last read it is spawned by its digest (path-digests.ts).
    before = statOf(component);
    const known = checks.paths.known(component, before);
    kept = known ? await checks.byDigest(known).catch(() => undefined) : undefined;
    bytes = kept?.bytes ?? (await readComponent(component));
  } else if (component instanceof Uint8Array) bytes = component;
  else throw new AgentOSError('AOS_E_BAD_ARGUMENT', 'spawn takes a path, a digest or the component bytes');
  // Bytes that are no component at all, or that the signing policy refuses, leave nothing else
  // to check.
  const info = kept?.info ?? (await checks.inspect(bytes, what));
  if (typeof component === 'string' && before && !kept) checks.paths.remember(component, before, info.digest);
  const vouched = checks.admit(bytes, info, what);

  const optionProblems: AgentOSError[] = [];
  const attempt = <T>(f: () => T, fallback: T): T => {
    try {
      return f();
    } catch (e) {
      if (!(e instanceof AgentOSError)) throw e;
      optionProblems.push(e);
      return fallback;
    }
  };
  for (const key of Object.keys(options))
    if (!(OPTIONS as string[]).includes(key))
      optionProblems.push(
        new AgentOSError(
          'AOS_E_BAD_CONFIG',
          `spawn has no option ${JSON.stringify(key)} (known: ${OPTIONS.join(', ')})`,
        ),
      );
  const granted = options.grants ?? [];
  const grantsOk = Array.isArray(granted);
  // The grants as given are checked (unknown, unavailable, repeated); the agent runs with what
  // the embedder grants ∩ what the manifest requests ∩ what the publisher is trusted with.
  const given = checkGrants(grantsOk ? granted : [], checks.table);
  const valid = (grantsOk ? granted : []).filter(
    (g) => typeof g === 'string' && given.grants.has(g.split(':')[0]!.trim()),
  );
  const effective = effectiveGrants(valid, info.manifest, vouched.allowed);
  const grantList = effective.grants;
  const { grants } = checkGrants(grantList, checks.table, false);
  const grantProblems = [...given.problems, ...effective.problems];
  if (!grantsOk)
    grantProblems.unshift(new AgentOSError('AOS_E_BAD_ARGUMENT', 'grants must be an array of strings'));
  const restart = options.restart ?? 'on-message';
  if (restart !== 'on-message' && restart !== 'never')
    optionProblems.push(
      new AgentOSError('AOS_E_BAD_CONFIG', `restart must be "on-message" or "never", got ${String(restart)}`),
    );
  const rawName =
    options.name ??
    installed?.name ??
    (typeof component === 'string' && !digest
      ? basename(component, '.wasm')
      : (info.manifest?.name ?? info.world));
  if (typeof rawName !== 'string')
    optionProblems.push(new AgentOSError('AOS_E_BAD_CONFIG', `name must be a string, got ${typeof rawName}`));
  const c: CheckedSpawn = {
    bytes,
    info: info as CheckedSpawn['info'],
    what,
    grants: grantsOk ? [...grantList] : [],
    config: attempt(() => jsonText(options.config ?? {}, 'config', 'AOS_E_BAD_CONFIG'), '{}'),
    restart: restart === 'never' ? 'never' : 'on-message',
    // The draft record below needs a valid seed even when the given one is not.
    seed: attempt(() => parseSeed(options.seed), '0'),
    name: sanitizeName(typeof rawName === 'string' ? rawName : 'agent'),
    limits: attempt(() => resolveLimits(checks.defaults, options.limits), checks.defaults),
    priority: attempt(() => checkPriority(options.priority), 'normal'),
    weight: attempt(() => checkWeight(options.weight), 1),
    provenance: provenanceOf(vouched, info, grantsOk ? granted : []),
  };

  const problems = info.manifest ? importsNotRequested(info.imports, info.manifest, what) : [];
  problems.push(...importProblems(info.imports, grants, checks.table, what));
  problems.push(...info.exportProblems.map((p) => new AgentOSError('AOS_E_BAD_EXPORTS', `${what} ${p}`)));
  if (info.manifest && info.world !== 'unknown' && info.manifest.world !== info.world)
    problems.push(
      new AgentOSError(
        'AOS_E_BAD_MANIFEST',
        `${what}: its manifest says world ${info.manifest.world}, but its exports are the ${info.world} world's`,
      ),
    );
  if (info.world === 'unknown' && info.exportProblems.length === 0)
    problems.push(
      new AgentOSError('AOS_E_BAD_EXPORTS', `${what} fits neither the agent nor the skill world`),
    );
  problems.push(...grantProblems);
  // Each capability parses its own scope; the draft is named after the component, as errors should be.
  const draft = newRecord(c, what, 0);
  for (const [name, grant] of grants) {
    try {
      checks.configure(checks.table.byCapability.get(name)!, draft, grant);
    } catch (e) {
      if (!(e instanceof AgentOSError)) throw e;
      problems.push(e);
    }
  }
  problems.push(...optionProblems);
  if (problems.length > 0) throw refusal(what, problems);
  return c;
}

/** A u64 seed as a decimal string; random when not given. */
export function parseSeed(seed: SpawnOptions['seed']): string {
  if (seed === undefined) return randomBytes(8).readBigUInt64LE().toString();
  let v: bigint;
  try {
    v = BigInt(seed);
  } catch {
    throw new AgentOSError('AOS_E_BAD_CONFIG', `seed must be an integer, got ${String(seed)}`);
  }
  if (v < 0n || v >= 1n << 64n)
    throw new AgentOSError('AOS_E_BAD_CONFIG', `seed must fit in a u64, got ${v}`);
  return v.toString();
}

/** Lowercase kebab-case, at most 40 characters: the first part of the agent id. */
export function sanitizeName(name: string): string {
  const clean = name
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40);
  return clean || 'agent';
}

/** The process-table record of a new agent `id`, spawned at `at` with the checked options. */
export function newRecord(c: CheckedSpawn, id: string, at: number): AgentRecord {
  return {
    id,
    name: c.name,
    world: c.info.world,
    digest: c.info.digest,
    imports: c.info.imports,
    grants: c.grants,
    config: c.config,
    state: 'ready',
    restart: c.restart,
    seed: c.seed,
    createdAt: at,
    updatedAt: at,
    generation: 0,
    lastError: null,
    stats: emptyStats(),
    capState: {},
    limits: c.limits,
    priority: c.priority,
    weight: c.weight,
    provenance: c.provenance,
  };
}

/** The record of who vouches for a component and what it asked for. */
function provenanceOf(p: Provenance, info: ComponentInfo, granted: readonly string[]): AgentProvenance {
  const m = info.manifest;
  return {
    signed: p.signed,
    ...(p.publisher ? { publisher: p.publisher, keyId: p.keyId } : {}),
    ...(m ? { name: m.name, version: m.version, requested: [...m.capabilities] } : {}),
    granted: granted.filter((g) => typeof g === 'string'),
  };
}
