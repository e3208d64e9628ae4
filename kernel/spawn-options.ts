/**
 * Everything `spawn` checks before it touches the data dir: the component bytes, their world,
 * and each option. Each failure is a coded error; nothing is stored until all pass.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { SpawnOptions } from './api.js';
import { AgentOSError } from './errors.js';
import { checkPriority, checkWeight, type Limits, type Priority, resolveLimits } from './limits.js';
import type { ComponentInfo } from './loader.js';
import { type AgentRecord, emptyStats, type RestartPolicy } from './store/process-table.js';

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
}

/** Reads and inspects the component and validates the options (grants are linked by the caller). */
export async function checkSpawn(
  component: string | Uint8Array,
  options: SpawnOptions,
  inspect: (bytes: Uint8Array, what: string) => Promise<ComponentInfo>,
  defaults: Limits,
): Promise<CheckedSpawn> {
  const what = typeof component === 'string' ? component : 'component';
  let bytes: Uint8Array;
  if (typeof component === 'string') {
    try {
      bytes = await readFile(component);
    } catch (e) {
      throw new AgentOSError(
        'AOS_E_COMPONENT_NOT_FOUND',
        `cannot read ${component}: ${(e as Error).message}`,
        {
          path: component,
        },
      );
    }
  } else if (component instanceof Uint8Array) bytes = component;
  else throw new AgentOSError('AOS_E_BAD_ARGUMENT', 'spawn takes a path or the component bytes');
  const info = await inspect(bytes, what);
  if (info.world === 'unknown') {
    const why = info.exportProblems.map((p) => `${what} ${p}`).join('; ');
    throw new AgentOSError('AOS_E_BAD_EXPORTS', why || `${what} fits neither the agent nor the skill world`);
  }
  const grants = options.grants ?? [];
  if (!Array.isArray(grants))
    throw new AgentOSError('AOS_E_BAD_ARGUMENT', 'grants must be an array of strings');
  let config: string | undefined;
  try {
    config = JSON.stringify(options.config ?? {});
  } catch (e) {
    throw new AgentOSError('AOS_E_BAD_CONFIG', `config is not JSON-serialisable: ${(e as Error).message}`);
  }
  if (config === undefined) throw new AgentOSError('AOS_E_BAD_CONFIG', 'config is not a JSON value');
  const restart = options.restart ?? 'on-message';
  if (restart !== 'on-message' && restart !== 'never') {
    throw new AgentOSError(
      'AOS_E_BAD_CONFIG',
      `restart must be "on-message" or "never", got ${String(restart)}`,
    );
  }
  const name = sanitizeName(
    options.name ?? (typeof component === 'string' ? basename(component, '.wasm') : info.world),
  );
  return {
    bytes,
    info: info as CheckedSpawn['info'],
    what,
    grants: [...grants],
    config,
    restart,
    seed: parseSeed(options.seed),
    name,
    limits: resolveLimits(defaults, options.limits),
    priority: checkPriority(options.priority),
    weight: checkWeight(options.weight),
  };
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
  };
}
