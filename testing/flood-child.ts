/**
 * A kernel in its own process, flooding one agent with messages, for the kill -9 test
 * (kernel/durability.test.ts). Usage: node flood-child.js <home> <count>. It prints
 * `agent <id>`, then `posted <n> <handled>` each time the first n messages are on disk
 * (flushed) with how many the agent had handled before that flush (so their outcomes are on
 * disk too), and again every few ms once all are posted, until it is killed.
 */
import { argv, stdout } from 'node:process';
import { Kernel } from '../index.js';
import { childKernelOptions, fixture, PROBE_GRANTS } from './harness.js';

const [home, countText] = argv.slice(2);
const count = Number(countText);
const kernel = await Kernel.open(childKernelOptions(home!));
const id = await kernel.spawn(await fixture('probe'), { grants: PROBE_GRANTS });
stdout.write(`agent ${id}\n`);
/** `posted <n> <handled>` once what is queued so far is on disk: the handled count is read first, so those outcomes are on disk too. */
async function report(n: number): Promise<void> {
  const handled = kernel.inspect(id).stats.invocations;
  await kernel.flushed();
  stdout.write(`posted ${n} ${handled}\n`);
}
for (let n = 0; n < count; ) {
  for (const end = n + 50; n < end; n++) kernel.post(id, { op: 'wm', calls: [['set', `seen:${n}`, '1']], n });
  await report(n);
}
// Keep delivering (and reporting) until killed.
for (;;) {
  await report(count);
  await new Promise((r) => setTimeout(r, 5));
}
