/**
 * A kernel in its own process, for kernel/capacity.test.ts (a process's room for wasm memories is
 * process-wide, so each case gets a process of its own). Usage:
 *   node capacity-child.js <home> <agent.wasm> <spawns> [grants]   spawns up to <spawns> agents
 * one by one (granted the comma-separated capabilities) and prints one JSON line: the process's
 * address space, how many spawned, the first refusal (code, message, details), whether the
 * first agent still answers, whether a spawn succeeds again once two agents are terminated, and
 * what a spawn asking for a 2 GiB memory cap gets.
 */
import { argv, stdout } from 'node:process';
import { AgentOSError, Kernel } from '../index.js';
import { addressSpace } from '../kernel/base/address-space.js';
import { childKernelOptions } from './harness.js';

const [home, wasm, spawns, grantList] = argv.slice(2);
const grants = grantList ? grantList.split(',') : [];
const kernel = await Kernel.open(childKernelOptions(home!));
const ids: string[] = [];
let refused: { code: string; message: string; details: unknown } | null = null;
for (let i = 0; i < Number(spawns); i++) {
  try {
    ids.push(await kernel.spawn(wasm!, { grants }));
  } catch (e) {
    if (!(e instanceof AgentOSError)) throw e;
    refused = { code: e.code, message: e.message, details: e.details };
    break;
  }
}
const answer = ids.length > 0 ? await kernel.send(ids[0]!, { text: 'still here' }) : null;
let again: string | null = null;
if (refused && ids.length >= 2) {
  await kernel.terminate(ids.pop()!);
  await kernel.terminate(ids.pop()!);
  try {
    ids.push(await kernel.spawn(wasm!, { grants }));
    again = 'spawned';
  } catch (e) {
    again = e instanceof AgentOSError ? e.code : String(e);
  }
}
let bigCap: string;
try {
  await kernel.terminate(await kernel.spawn(wasm!, { grants, limits: { memoryBytes: 2 * 2 ** 30 } }));
  bigCap = 'spawned';
} catch (e) {
  bigCap = e instanceof AgentOSError ? e.code : String(e);
}
await kernel.close();
stdout.write(
  `${JSON.stringify({ space: addressSpace(), spawned: ids.length, refused, answer, again, bigCap })}\n`,
);
