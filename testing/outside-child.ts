/**
 * A kernel in its own process with the outside-effect capability (testing/outside), for the
 * kill -9 test of kernel/outside.test.ts. Usage:
 *   node outside-child.js run <home> <url> <agent.wasm>   spawns the agent, posts "go" (its call
 *                                                         reaches outside, then it spins), prints
 *                                                         `agent <id>` and waits to be killed
 *   node outside-child.js resume <home> <url>             opens the home again, waits for the
 *                                                         message's outcome, prints it as JSON
 */
import { argv, stdout } from 'node:process';
import { defaultCapabilities } from '../hostcalls/index.js';
import { Kernel } from '../index.js';
import { childKernelOptions, until } from './harness.js';
import { outsideEffect } from './outside/index.js';

const [mode, home, url, wasm] = argv.slice(2);
const kernel = await Kernel.open({
  ...childKernelOptions(home!),
  capabilities: [...defaultCapabilities, outsideEffect],
  config: { effect: { url: url! } },
});
if (mode === 'run') {
  const id = await kernel.spawn(wasm!, { grants: ['effect'] });
  kernel.post(id, 'go');
  await kernel.flushed();
  stdout.write(`agent ${id}\n`);
  await new Promise(() => {}); // until killed
}
const [agent] = kernel.list();
await until(
  'the message ran again',
  async () => (await kernel.journal(agent!.id)).some((e) => e.t === 'outcome'),
  120_000,
);
const outcome = (await kernel.journal(agent!.id)).find((e) => e.t === 'outcome');
stdout.write(`${JSON.stringify(outcome)}\n`);
await kernel.close();
