/**
 * `acme:outside/effect`: a test capability whose calls reach a server outside the data dir (a
 * real HTTP request on loopback), one of them marked `outside` (kept before the guest sees it)
 * and one not, so a test can count what a message that runs again does to the world.
 *
 * @example
 * const kernel = await Kernel.open({ capabilities: [...defaultCapabilities, outsideEffect], config: { effect: { url } } });
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AgentOSError, defineCapability, rejectScope } from '../../kernel/sdk/index.js';
import { buildWatComponent } from '../../toolchain/wat.js';
import { signedForTests } from '../harness.js';

interface Config {
  /** The server's base URL (`http://127.0.0.1:port`). */
  url: string;
}

async function post(url: string, n: number): Promise<number> {
  const r = await fetch(url, { method: 'POST', body: String(n) });
  return Number(await r.text());
}

export const outsideEffect = defineCapability<Config, Config, never, Config>({
  name: 'effect',
  package: 'acme:outside',
  version: '1.0.0',
  config(raw) {
    const url = (raw as { url?: unknown } | undefined)?.url;
    if (typeof url !== 'string') throw new AgentOSError('AOS_E_BAD_CONFIG', 'effect takes { url }');
    return { url };
  },
  init: (_services, config) => config,
  configure(agent, grant, shared) {
    rejectScope(grant, agent.id);
    return shared;
  },
  functions: {
    hit: (ctx, n: number) => post(`${ctx.view.url}/hit`, n),
    'hit-again': (ctx, n: number) => post(`${ctx.view.url}/again`, n),
  },
  outside: ['hit'],
});

/** The agent (agent.wat) built against outside.wit, with its manifest, signed by the dev key. */
export async function outsideAgent(): Promise<Buffer> {
  const here = (f: string): string => join(import.meta.dirname, f);
  const common = readFileSync(join(import.meta.dirname, '..', 'fixtures', 'common.wat.inc'), 'utf8');
  const built = await buildWatComponent(readFileSync(here('agent.wat'), 'utf8').replace(';;COMMON', common), {
    world: 'agent',
    extraPackages: { outside: readFileSync(here('outside.wit'), 'utf8') },
    extraWorldLines: ['import acme:outside/effect@1.0.0;'],
  });
  return signedForTests(built, {
    name: 'outside-agent',
    version: '1.0.0',
    publisher: 'agentos-dev',
    description: 'calls a server outside the data dir',
    world: 'agent',
    capabilities: ['effect'],
  });
}
