/**
 * A kernel in its own process, flooding one agent with messages, for the kill -9 test
 * (kernel/durability.test.ts). Usage: node flood-child.js <home> <count>. It prints
 * `agent <id>`, then `posted <n> <handled>` each time the first n messages are on disk
 * (flushed) with how many the agent has handled so far, and again every few ms once all are
 * posted, until it is killed.
 */
import { argv, stdout } from 'node:process';
import { Kernel } from '../index.js';
import { fixture, PROBE_GRANTS, TEST_CACHE_DIR } from './harness.js';

const [home, countText] = argv.slice(2);
const count = Number(countText);
const kernel = await Kernel.open({ home, cacheDir: TEST_CACHE_DIR, workers: 2, logLevel: 'silent' });
const id = await kernel.spawn(await fixture('probe'), { grants: PROBE_GRANTS });
stdout.write(`agent ${id}\n`);
for (let n = 0; n < count; ) {
  for (const end = n + 50; n < end; n++) kernel.post(id, { op: 'wm', calls: [['set', `seen:${n}`, '1']], n });
  await kernel.flushed();
  stdout.write(`posted ${n} ${kernel.inspect(id).stats.invocations}\n`);
}
// Keep delivering (and reporting) until killed.
setInterval(() => stdout.write(`posted ${count} ${kernel.inspect(id).stats.invocations}\n`), 5);
