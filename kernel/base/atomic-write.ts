/** Writes a file so readers see either nothing or the whole of it (write aside, then rename). */
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { pid } from 'node:process';
import { AgentOSError } from './errors.js';

export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.${pid}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

/**
 * As `writeFileAtomic`, and on disk when it returns (synced before the rename), for a file that
 * stands for something the kernel then drops (an exported agent, an archived journal).
 */
export function writeFileDurably(path: string, data: Uint8Array, mode = 0o600): void {
  const tmp = `${path}.${pid}.tmp`;
  try {
    const fd = openSync(tmp, 'w', mode);
    try {
      for (let at = 0; at < data.length; ) at += writeSync(fd, data, at, data.length - at);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
    // The rename itself is on disk once the directory is.
    const dir = openSync(dirname(path), 'r');
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/**
 * `writeFileDurably`, or AOS_E_BAD_ARGUMENT naming the file, why, and what happens instead
 * (`instead`: "the agent stays here", "nothing was pruned").
 */
export function writeFileOrRefuse(
  path: string,
  data: Uint8Array,
  what: string,
  instead: string,
  details: Record<string, unknown> = {},
): void {
  try {
    writeFileDurably(path, data);
  } catch (e) {
    throw new AgentOSError(
      'AOS_E_BAD_ARGUMENT',
      `cannot write the ${what} to ${path}: ${(e as Error).message}; ${instead}`,
      details,
    );
  }
}
