/**
 * What a component may be granted, given what it asks for: its imports must be covered by its
 * manifest's requested capabilities, and the grants it runs with are what the embedder grants
 * ∩ what the manifest requests ∩ what the publisher's trust allows.
 *
 * Scopes narrow as follows: a bare request (`ipc`) takes the embedder's grant as given; a bare
 * grant of a scoped request (`ipc` granted, `ipc:send=worker-*` requested) takes the request's
 * scope; equal scopes stay; two different scopes have no intersection this kernel can compute
 * for every capability, so they are refused (grant the requested scope, or a bare grant).
 *
 * @example
 * importsNotRequested(info.imports, manifest, 'echo.wasm'); // AOS_E_IMPORT_NOT_REQUESTED for each
 * effectiveGrants(['log', 'ipc'], manifest, undefined);     // { grants: ['log', 'ipc:send=worker-*'], ... }
 */
import { parseImportName } from '../base/abi.js';
import { AgentOSError } from '../base/errors.js';
import { type Manifest, requested } from './manifest.js';

const capabilityOf = (grant: string): [string, string] => {
  const at = grant.indexOf(':');
  return at === -1 ? [grant.trim(), ''] : [grant.slice(0, at).trim(), grant.slice(at + 1).trim()];
};

/** One AOS_E_IMPORT_NOT_REQUESTED per imported capability the manifest does not request. */
export function importsNotRequested(
  imports: readonly string[],
  manifest: Manifest,
  what: string,
): AgentOSError[] {
  const asked = requested(manifest);
  const problems: AgentOSError[] = [];
  for (const name of imports) {
    const parsed = parseImportName(name);
    if (!parsed || parsed.iface === 'types' || asked.has(parsed.iface)) continue;
    problems.push(
      new AgentOSError(
        'AOS_E_IMPORT_NOT_REQUESTED',
        `${what} imports ${name}, but its manifest does not request ${parsed.iface} (it requests ${[...asked.keys()].join(', ') || 'nothing'})`,
        { import: name, capability: parsed.iface },
      ),
    );
  }
  return problems;
}

export interface Effective {
  grants: string[];
  /** Grants the embedder gave that the component does not get, and why. */
  dropped: { grant: string; why: 'not-requested' | 'not-allowed' }[];
  problems: AgentOSError[];
}

/**
 * The grants a component runs with. Without a manifest (an unsigned component the policy
 * admits) the embedder's grants stand; `allowed`: capability names the publisher's trust allows.
 */
export function effectiveGrants(
  granted: readonly string[],
  manifest: Manifest | null,
  allowed: readonly string[] | undefined,
): Effective {
  const out: Effective = { grants: [], dropped: [], problems: [] };
  const asked = manifest ? requested(manifest) : null;
  for (const grant of granted) {
    if (typeof grant !== 'string') {
      out.grants.push(grant); // the grant checks report it
      continue;
    }
    const [name, scope] = capabilityOf(grant);
    if (allowed && !allowed.includes(name)) {
      out.dropped.push({ grant, why: 'not-allowed' });
      continue;
    }
    if (!asked) {
      out.grants.push(grant);
      continue;
    }
    const want = asked.get(name);
    if (want === undefined) {
      out.dropped.push({ grant, why: 'not-requested' });
      continue;
    }
    if (want === '' || want === scope) out.grants.push(grant);
    else if (scope === '') out.grants.push(`${name}:${want}`);
    else {
      out.problems.push(
        new AgentOSError(
          'AOS_E_BAD_CONFIG',
          `grant "${grant}" and the manifest's request "${name}:${want}" differ; grant "${name}:${want}" or a bare "${name}"`,
          { grant, requested: `${name}:${want}` },
        ),
      );
    }
  }
  return out;
}
