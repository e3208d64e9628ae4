/**
 * A kernel in its own process sending messages from several lanes at once, for the counting
 * kill -9 test (kernel/durability.test.ts). Usage:
 *   node lanes-child.js <home> <round> <lanes> <perLane> [<relay> <sink>]
 * Without agent ids it spawns a relay (counts, then passes each message on) and a sink (counts
 * what arrives) and prints `agents <relay> <sink>`. Each lane sends `{key, to: sink}` to the
 * relay, one message after the other, and prints `ack <key>` once `send` resolved; it runs until
 * it is killed.
 */
import { argv, stdout } from 'node:process';
import { Kernel } from '../index.js';
import { childKernelOptions, fixture } from './harness.js';

const [home, round, lanesText, perLaneText, relayId, sinkId] = argv.slice(2);
const kernel = await Kernel.open(childKernelOptions(home!));
let relay = relayId;
let sink = sinkId;
if (!relay || !sink) {
  const tally = await fixture('tally');
  relay = await kernel.spawn(tally, { grants: ['ipc', 'working-memory'], name: 'relay' });
  sink = await kernel.spawn(tally, { grants: ['ipc', 'working-memory'], name: 'sink' });
}
stdout.write(`agents ${relay} ${sink}\n`);
const lane = async (i: number): Promise<void> => {
  for (let n = 0; n < Number(perLaneText); n++) {
    const key = `r${round}:l${i}:${n}`;
    await kernel.send(relay, { key, to: sink });
    stdout.write(`ack ${key}\n`);
  }
};
await Promise.all([...Array(Number(lanesText)).keys()].map(lane));
stdout.write('done\n');
// Wait to be killed.
setInterval(() => {}, 1000);
