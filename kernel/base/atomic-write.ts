/** Writes a file so readers see either nothing or the whole of it (write aside, then rename). */
import { renameSync, writeFileSync } from 'node:fs';
import { pid } from 'node:process';

export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.${pid}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}
