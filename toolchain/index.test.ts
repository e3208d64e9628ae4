import { execFile } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../kernel/base/paths.js';
import { tempHome } from '../testing/harness.js';

/** Runs `code` as an ES module in a package that depends on agentos (installed as a link). */
function inDependent(code: string): Promise<string> {
  const dir = tempHome('agentos-dependent-');
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(packageRoot(), join(dir, 'node_modules', 'agentos'));
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({ type: 'module', dependencies: { agentos: '*' } }),
  );
  writeFileSync(join(dir, 'main.mjs'), code);
  return new Promise((resolve, reject) =>
    execFile(process.execPath, ['main.mjs'], { cwd: dir, timeout: 60_000 }, (err, out, errOut) =>
      err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve(out),
    ),
  );
}

describe('the package', () => {
  it('exports the kernel as `agentos` and the toolchain as `agentos/toolchain`, both with something behind them', async () => {
    const out = await inDependent(`
      import * as kernel from 'agentos';
      import * as toolchain from 'agentos/toolchain';
      console.log(JSON.stringify({ kernel: typeof kernel.Kernel, toolchain: Object.keys(toolchain).sort() }));
    `);
    expect(JSON.parse(out)).toEqual({
      kernel: 'function',
      toolchain: [
        'FUEL',
        'FUEL_PASS_VERSION',
        'buildComponent',
        'buildWatComponent',
        'inspectComponent',
        'instrumentFuel',
        'instrumentInThread',
        'readComponent',
      ],
    });
  });
});
