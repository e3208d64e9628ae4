/**
 * Where the package's own files are, whether the code runs compiled (dist/) or from sources.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { AgentOSError } from './errors.js';

let root: string | undefined;

/** The directory holding AgentOS's package.json. */
export function packageRoot(): string {
  if (root) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'agentos') {
      root = dir;
      return dir;
    }
    const up = dirname(dir);
    if (up === dir) throw new AgentOSError('AOS_E_INTERNAL', 'cannot find the agentos package root');
    dir = up;
  }
}

/** AgentOS's version (its package.json's), as the files it writes name it. */
export function agentosVersion(): string {
  return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string })
    .version;
}

/** The kernel's WIT package directory. */
export function witDir(): string {
  return join(packageRoot(), 'wit');
}

/**
 * The file: URL of a module that must load as compiled JS (a worker thread's entry). `sibling`
 * is its URL next to the caller; when the caller itself runs from TypeScript sources (tests),
 * there is no `.js` there, and the compiled copy at `dist/<distPath>` is used instead.
 */
export function compiledEntry(sibling: URL, distPath: string): string {
  if (existsSync(fileURLToPath(sibling))) return sibling.href;
  const dist = join(packageRoot(), 'dist', distPath);
  if (existsSync(dist)) return pathToFileURL(dist).href;
  throw new AgentOSError('AOS_E_INTERNAL', `no compiled module at ${dist}: run \`npm run build\``);
}
