/**
 * `agentos demo` (`npm start`): opens the kernel on the data dir, spawns the sample agents (or
 * finds them from an earlier run), sends them messages and prints outcomes and per-agent stats.
 * Run it twice: the counter continues, because its count lives in working memory.
 */
import { stderr, stdout } from 'node:process';
import { Kernel } from '../index.js';
import type { AgentInfo } from '../kernel/kernel.js';
import { samplePath } from './build-samples.js';

const SAMPLES = [
  { name: 'echo', grants: ['log'] },
  { name: 'counter', grants: ['log', 'working-memory'] },
  { name: 'text-stats', grants: [] },
];

const line = (s = ''): void => {
  stdout.write(`${s}\n`);
};

export async function runDemo(options: { home: string; logLevel: string }): Promise<void> {
  const kernel = await Kernel.open({
    home: options.home,
    logLevel: options.logLevel,
    onProgress: (m) => stderr.write(`${m}\n`),
  });
  try {
    const known = kernel.list().filter((a) => a.state !== 'terminated');
    line(`AgentOS demo — data dir ${options.home}`);
    line(
      known.length > 0
        ? `restored ${known.length} agents from the process table`
        : 'fresh data dir: spawning the sample agents',
    );
    const ids: Record<string, string> = {};
    for (const s of SAMPLES) {
      const found = known.find((a) => a.name === s.name);
      if (found) {
        if (found.state === 'suspended' || found.state === 'crashed') kernel.resume(found.id);
        ids[s.name] = found.id;
      } else {
        const t0 = performance.now();
        ids[s.name] = await kernel.spawn(samplePath(s.name), { grants: s.grants, name: s.name });
        line(
          `spawned ${ids[s.name]} (grants: ${s.grants.join(', ') || 'none'}) in ${Math.round(performance.now() - t0)} ms`,
        );
      }
    }
    line();
    const show = (id: string, input: string, out: unknown): void =>
      line(`${id.padEnd(20)} ${input.padEnd(38)} → ${JSON.stringify(out)}`);
    for (const text of ['hello, agents', 'a second message']) {
      show(ids.echo!, JSON.stringify({ text }), await kernel.send(ids.echo!, { text }));
    }
    for (const by of [1, 1, 5])
      show(ids.counter!, JSON.stringify({ by }), await kernel.send(ids.counter!, { by }));
    const text = 'The kernel runs agents. Agents call tools. Tools are system calls.';
    show(ids['text-stats']!, 'stats(text)', await kernel.invoke(ids['text-stats']!, 'stats', { text }));
    show(
      ids['text-stats']!,
      'top-words(text, 3)',
      await kernel.invoke(ids['text-stats']!, 'top-words', { text, n: 3 }),
    );
    try {
      await kernel.send(ids.counter!, { by: 'seven' });
    } catch (e) {
      show(ids.counter!, '{"by":"seven"}', String(e));
    }
    line();
    line(
      'agent                world  state    invocations errors crashes  hostcalls                 busy ms  M fuel  journal',
    );
    for (const id of Object.values(ids)) {
      const a: AgentInfo = kernel.inspect(id);
      const calls = Object.entries(a.stats.hostcalls)
        .map(([k, n]) => `${k}:${n}`)
        .join(' ');
      const journal = (await kernel.journal(id)).length;
      line(
        `${a.id.padEnd(20)} ${a.world.padEnd(6)} ${a.state.padEnd(8)} ${String(a.stats.invocations).padStart(11)} ${String(a.stats.errors).padStart(6)} ${String(a.stats.crashes).padStart(7)}  ${calls.padEnd(25)} ${(a.stats.busyUs / 1000).toFixed(1).padStart(7)}  ${(a.stats.fuel / 1e6).toFixed(1).padStart(6)}  ${journal}`,
      );
    }
    line();
    line('Run it again: the counter continues from its stored count.');
  } finally {
    await kernel.close();
  }
}
