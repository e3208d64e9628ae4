/**
 * Runs the built `agentos` CLI in a child process, for the CLI tests. `agentos` first makes the
 * data dir it names trust the dev key that signed the samples (as `agentos trust add agentos-dev
 * .agentos/keys/dev.key.pub` would); `cli` runs it as it is.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { packageRoot } from '../kernel/base/paths.js';
import { TrustStore } from '../kernel/signing/trust.js';
import { DEV_PUBLISHER, devKey } from '../toolchain/dev-key.js';
import { TEST_CACHE_DIR, tempHome } from './harness.js';

const CLI = join(packageRoot(), 'dist', 'toolchain', 'cli', 'main.js');

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs the CLI. The data dir it names (`--home`, or $AGENTOS_HOME) trusts the dev key that
 * signed the samples, as `agentos trust add agentos-dev .agentos/keys/dev.key.pub` would do.
 */
export function agentos(args: string[], env: Record<string, string> = {}, input?: string): Promise<Run> {
  const at = args.indexOf('--home');
  const home = at >= 0 ? args[at + 1] : env.AGENTOS_HOME;
  if (home) TrustStore.at(home).add(DEV_PUBLISHER, devKey().publicKey, { now: Date.now() });
  return cli(args, env, input);
}

/** Runs the CLI as it is, trusting nothing for it. */
export function cli(args: string[], env: Record<string, string> = {}, input?: string): Promise<Run> {
  return new Promise((resolve) => {
    const { AGENTOS_HOME: _h, ...rest } = process.env;
    const child = execFile(
      process.execPath,
      [CLI, ...args],
      { env: { ...rest, AGENTOS_CACHE: TEST_CACHE_DIR, ...env }, cwd: tempHome(), maxBuffer: 64 << 20 },
      (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}
