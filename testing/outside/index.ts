/**
 * `acme:outside/effect`: a test capability whose calls reach a server outside the data dir (a
 * real HTTP request on loopback), one of them marked `outside` (kept before the guest sees it)
 * and one not, so a test can count what a message that runs again does to the world. The agent
 * that calls them is agent.wat, built against outside.wit (kernel/outside.test.ts builds it).
 *
 * @example
 * const kernel = await Kernel.open({ capabilities: [...defaultCapabilities, outsideEffect], config: { effect: { url } } });
 */
import { AgentOSError, defineCapability, rejectScope } from '../../kernel/sdk/index.js';

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
