import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Kernel } from './kernel.js';
import { packageRoot } from './paths.js';
import { openKernel, tempHome } from './testing/harness.js';

let kernel: Kernel;

/**
 * Runs flood-child.js on `home` and kills it with SIGKILL once `killAfter` messages are on disk
 * and the agent has handled some of them but not all. Returns the agent id and how many messages were reported durable.
 */
function floodAndKill(
  home: string,
  count: number,
  killAfter: number,
): Promise<{ agent: string; durable: number }> {
  const child = spawn(
    process.execPath,
    [join(packageRoot(), 'dist', 'kernel', 'testing', 'flood-child.js'), home, String(count)],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  return new Promise((resolve, reject) => {
    let agent = '';
    let durable = 0;
    let handled = 0;
    let buffered = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        const [word, value] = line.split(' ');
        if (word === 'agent') agent = value!;
        if (word === 'posted') {
          durable = Number(value);
          handled = Number(line.split(' ')[2]);
        }
      }
      // Mid-flood: some handled, some on disk still waiting.
      if (durable >= killAfter && handled > 0 && durable - handled >= 10 && child.exitCode === null)
        child.kill('SIGKILL');
    });
    child.on('exit', (_code, signal) => {
      if (signal === 'SIGKILL') resolve({ agent, durable });
      else reject(new Error(`the flood child exited on its own (${_code})`));
    });
  });
}

describe('durability', () => {
  it('survives kill -9 mid-flood: nothing acked is lost or redelivered, everything durable is delivered', async () => {
    const home = tempHome();
    const { agent, durable } = await floodAndKill(home, 2000, 600);
    expect(durable).toBeGreaterThanOrEqual(600);
    kernel = await openKernel({ home });
    // The reopened kernel delivers whatever was left in the mailbox.
    for (let i = 0; i < 2000 && kernel.inspect(agent).mailbox > 0; i++)
      await new Promise((r) => setTimeout(r, 10));
    expect(kernel.inspect(agent).mailbox).toBe(0);
    const journal = await kernel.journal(agent);
    const payload = new Map<number, number>(); // message id → n
    const okAt = new Map<number, number>(); // message id → seq of its first ok outcome
    const invokes = new Map<number, number[]>(); // message id → seqs of its deliveries
    for (const e of journal) {
      if (e.t === 'invoke') {
        payload.set(e.message.id, (JSON.parse(e.message.body) as { n: number }).n);
        invokes.set(e.message.id, [...(invokes.get(e.message.id) ?? []), e.seq]);
      }
      if (e.t === 'outcome' && e.result === 'ok' && !okAt.has(e.messageId)) okAt.set(e.messageId, e.seq);
    }
    // The kill came mid-flood: some messages were handled before it, some only after the reopen.
    const reopened = journal.filter((e) => e.t === 'instance')[1]!.seq;
    const okSeqs = [...okAt.values()];
    expect(okSeqs.some((s) => s < reopened)).toBe(true);
    expect(okSeqs.some((s) => s > reopened)).toBe(true);
    // Every message reported durable was handled, with an ok outcome.
    const handled = new Set([...okAt.keys()].map((id) => payload.get(id)));
    for (let n = 0; n < durable; n++) expect(handled.has(n), `message n=${n}`).toBe(true);
    // No message was delivered again after its ack (its ok outcome) reached the disk.
    for (const [id, seq] of okAt)
      expect(
        invokes.get(id)!.filter((s) => s > seq),
        `message ${id}`,
      ).toEqual([]);
    // And each handled message's effect is there.
    const sample = [0, Math.floor(durable / 2), durable - 1];
    const got = (await kernel.send(agent, {
      op: 'wm',
      calls: sample.map((n) => ['get', `seen:${n}`]),
    })) as unknown[];
    expect(got).toEqual(sample.map(() => ({ ok: '1' })));
  });
});
