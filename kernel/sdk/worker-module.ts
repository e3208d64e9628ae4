/**
 * The URL of a capability's worker module (`Capability.worker`), which must load as compiled JS
 * in a worker thread: the sibling `.js` of the capability's own module, or, when the capability
 * runs from TypeScript sources inside the agentos package (its tests), the compiled copy under
 * `dist/`.
 *
 * @example
 * worker: workerModule(import.meta.url, './local.js'),
 */
import { existsSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compiledEntry, packageRoot } from '../base/paths.js';

export function workerModule(base: string, path: string): string {
  const sibling = new URL(path, base);
  if (existsSync(fileURLToPath(sibling))) return sibling.href;
  return compiledEntry(sibling, relative(packageRoot(), fileURLToPath(sibling)));
}
