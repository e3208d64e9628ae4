/**
 * A kernel in its own process, for the kill -9 test of kernel/recovery.test.ts. Usage:
 *   node recovery-child.js <home> <probe.wasm> <n>   spawns the probe, sends it n echoes (each
 *                                                    answered), posts a long spin, prints
 *                                                    `agent <id>` once the spin runs, and waits
 *                                                    to be killed
 */
import { argv, stdout } from 'node:process';
import { Kernel } from '../index.js';
import { childKernelOptions, PROBE_GRANTS, until } from './harness.js';

const [home, wasm, n] = argv.slice(2);
const kernel = await Kernel.open({ ...childKernelOptions(home!), checkpointEvery: 4 });
const id = await kernel.spawn(wasm!, { grants: PROBE_GRANTS, limits: { fuel: { invocation: 400e9 } } });
for (let i = 0; i < Number(n); i++) await kernel.send(id, { op: 'echo', i });
kernel.post(id, { op: 'spin', n: 10_000_000 });
await kernel.flushed(); // the spin is on disk: it was accepted
await until('the spin runs', () => kernel.inspect(id).running !== null, 60_000);
stdout.write(`agent ${id}\n`);
await new Promise(() => {}); // until killed
