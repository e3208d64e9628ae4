/**
 * One process of bench/address-space.ts, started with or without V8's wasm trap handler (the
 * flag is the process's, so each side needs a process of its own). Usage:
 *   node address-space-child.js <n> [small|quickjs]
 * spawns up to n agents (echo.wat, or the QuickJS echo sample; by digest, 16 in flight) until
 * one is refused, then sends each one message at once, and prints one JSON line: how many, the
 * refusal, ms, RSS, mappings.
 */
import { readFileSync } from 'node:fs';
import { argv, memoryUsage, stdout } from 'node:process';
import { AgentOSError } from '../index.js';
import { addressSpace } from '../kernel/base/address-space.js';
import { sha256 } from '../kernel/loader/digest.js';
import { fixture, sample } from '../testing/harness.js';
import { openBenchKernel } from './kernel.js';

const IN_FLIGHT = 16;

async function resident(n: number, what: string): Promise<Record<string, unknown>> {
  const kernel = await openBenchKernel();
  try {
    const wasm = what === 'quickjs' ? await sample('echo') : await fixture('echo-wat');
    const grants = what === 'quickjs' ? ['log'] : [];
    await kernel.spawn(wasm, { grants }); // compiled once, then by digest
    const digest = `sha256:${sha256(readFileSync(wasm))}`;
    const ids: string[] = [];
    let refused: { code: string; message: string } | null = null;
    let started = 1;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (started < n && !refused) {
          started++;
          try {
            ids.push(await kernel.spawn(digest, { grants }));
          } catch (e) {
            if (!(e instanceof AgentOSError)) throw e;
            refused ??= { code: e.code, message: e.message };
          }
        }
      }),
    );
    const spawnMs = performance.now() - t0;
    const t1 = performance.now();
    const answers = await Promise.all(ids.map((id, i) => kernel.send(id, { text: `hi ${i}` })));
    const sendMs = performance.now() - t1;
    const answered = answers.filter((a, i) => (a as { text?: string }).text === `hi ${i}`).length;
    return {
      space: addressSpace(),
      resident: ids.length + 1,
      refused,
      spawnMs,
      answered: answered + 1,
      sendMs,
      rss: memoryUsage().rss,
      mappings: readFileSync('/proc/self/maps', 'utf8').split('\n').length - 1,
    };
  } finally {
    await kernel.close();
  }
}

const [n, what] = argv.slice(2);
stdout.write(`${JSON.stringify(await resident(Number(n), what ?? 'small'))}\n`);
