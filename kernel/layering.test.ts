/**
 * The layering the code keeps, read from every production file's imports: the kernel imports no
 * capability, no toolchain and no test helper; a capability imports only the SDK of the kernel,
 * and no other capability.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { describe, expect, test } from 'vitest';
import { packageRoot } from './base/paths.js';

const root = packageRoot();

/** Production TypeScript files (tests, fixtures and declarations left out). */
const files = execFileSync('git', ['ls-files', '*.ts'], { cwd: root, encoding: 'utf8' })
  .split('\n')
  .filter((f) => f && !f.endsWith('.test.ts') && !f.endsWith('.d.ts') && !f.includes('/fixtures/'));

/** The repository paths a file imports (relative imports only; comments stripped first). */
function imports(file: string): string[] {
  const src = readFileSync(join(root, file), 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/^\s*\/\/.*$/gm, '');
  const out: string[] = [];
  for (const m of src.matchAll(/\bfrom\s*'(\.[^']+)'|\bimport\(\s*'(\.[^']+)'\s*\)|^import\s*'(\.[^']+)'/gm))
    out.push(normalize(join(dirname(file), (m[1] ?? m[2] ?? m[3])!)));
  return out;
}

/** Every import from a file under `from` into a path that `bad` refuses, as `file → target`. */
function breaches(from: (f: string) => boolean, bad: (target: string, file: string) => boolean): string[] {
  return files
    .filter(from)
    .flatMap((f) => imports(f).map((t) => [f, t] as const))
    .filter(([f, t]) => bad(t, f))
    .map(([f, t]) => `${f} → ${t}`);
}

const under = (dir: string) => (p: string) => p.startsWith(`${dir}/`);

describe('layering', () => {
  test('reads the imports it checks', () => {
    expect(files.length).toBeGreaterThan(100);
    expect(imports('kernel/kernel.ts')).toContain('kernel/hostcall/capabilities.js');
  });

  test('the kernel imports no capability, no toolchain, no test helper and not the package entry', () => {
    expect(
      breaches(
        under('kernel'),
        (t) =>
          ['hostcalls/', 'toolchain/', 'testing/', 'examples/', 'bench/'].some((d) => t.startsWith(d)) ||
          t === 'index.js',
      ),
    ).toEqual([]);
  });

  test('a capability imports only the SDK of the kernel, and no other capability', () => {
    const capability = (f: string) => under('hostcalls')(f) || under('examples')(f);
    const folder = (p: string) => p.split('/').slice(0, 2).join('/');
    expect(
      breaches(capability, (t, f) => {
        if (t.startsWith('kernel/')) return !t.startsWith('kernel/sdk/');
        if (f === 'hostcalls/index.ts') return false; // the list of the shipped ones
        return (t.startsWith('hostcalls/') || t.startsWith('examples/')) && folder(t) !== folder(f);
      }),
    ).toEqual([]);
  });

  test('no folder imports, through others, a folder that imports it', () => {
    const edges = new Map<string, Set<string>>();
    for (const f of files)
      for (const t of imports(f)) {
        const [a, b] = [dirname(f), dirname(t)];
        if (a === b) continue;
        if (!edges.has(a)) edges.set(a, new Set());
        edges.get(a)!.add(b);
      }
    /** The folders `from` reaches, following imports. */
    const reach = (from: string): Set<string> => {
      const seen = new Set<string>();
      const frontier = [from];
      for (let d = frontier.pop(); d !== undefined; d = frontier.pop())
        for (const n of edges.get(d) ?? []) {
          if (seen.has(n)) continue;
          seen.add(n);
          frontier.push(n);
        }
      return seen;
    };
    const cycles = [...edges.keys()].filter((d) => reach(d).has(d)).sort();
    expect(cycles).toEqual([]);
  });

  test('the SDK leans on no part of the kernel that runs it', () => {
    const running = ['kernel/kernel.', 'kernel/assembly.', 'kernel/exec/', 'kernel/agents/'];
    expect(breaches(under('kernel/sdk'), (t) => running.some((r) => t.startsWith(r)))).toEqual([]);
  });
});
