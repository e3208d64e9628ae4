/**
 * A real OCI registry for tests and benchmarks: Debian's docker-registry (CNCF distribution
 * 2.8) on a free loopback port, with a throwaway config and storage dir.
 *
 * @example
 * const registry = await startRegistry();
 * await kernel.publish(path, registry.url);
 * registry.stop();
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { tempHome, until } from './harness.js';

/** A loopback port nothing listens on (now). */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Starts the registry and waits until it answers. */
export async function startRegistry(): Promise<{ url: string; stop: () => void }> {
  const dir = tempHome('agentos-registry-');
  const port = await freePort();
  const config = join(dir, 'config.yml');
  writeFileSync(
    config,
    `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\nhttp:\n  addr: 127.0.0.1:${port}\n`,
  );
  const child = spawn('docker-registry', ['serve', config], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}`;
  const stop = (): void => {
    child.kill('SIGTERM');
  };
  try {
    await until(
      'the registry answers',
      async () => (await fetch(`${url}/v2/`).catch(() => null))?.ok === true,
    );
  } catch (e) {
    stop();
    throw e;
  }
  return { url, stop };
}
