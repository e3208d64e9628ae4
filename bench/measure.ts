/** Small measurement helpers shared by the benchmarks. */

import { cpus, totalmem } from 'node:os';
import { platform, version } from 'node:process';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

export interface Percentiles {
  n: number;
  p50: number;
  p99: number;
  mean: number;
}

/** Percentiles of samples (any unit). */
export function percentiles(samples: number[]): Percentiles {
  const s = [...samples].sort((a, b) => a - b);
  const at = (p: number): number => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  return { n: s.length, p50: at(0.5), p99: at(0.99), mean: s.reduce((a, b) => a + b, 0) / s.length };
}

/** Runs `f` `n` times after `warm` warm-up runs; returns per-run microseconds. */
export async function timeEach(n: number, warm: number, f: () => unknown): Promise<number[]> {
  for (let i = 0; i < warm; i++) await f();
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await f();
    out[i] = (performance.now() - t0) * 1000;
  }
  return out;
}

export interface Figure {
  name: string;
  value: number;
  unit: string;
  baseline: { name: string; value: number };
  /** value / baseline. */
  ratio: number;
  /** The goal for the ratio, when it sets one. */
  goal?: string;
  date: string;
}

export function figure(
  name: string,
  value: number,
  unit: string,
  baselineName: string,
  baseline: number,
  goal?: string,
): Figure {
  const r = (x: number): number => Math.round(x * 1000) / 1000;
  return {
    name,
    value: r(value),
    unit,
    baseline: { name: baselineName, value: r(baseline) },
    ratio: r(value / baseline),
    ...(goal ? { goal } : {}),
    date: new Date().toISOString().slice(0, 10),
  };
}

export function machine(): string {
  const cpu = cpus()[0]?.model ?? 'unknown cpu';
  return `${cpu}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${version}, ${platform}`;
}

/**
 * `md` (bench/RESULTS.md) with the section whose heading starts `## ${heading}` replaced by
 * `section`, or `section` added before the analysis: a bench run alone updates its own part.
 */
export function withSection(md: string, heading: string, section: string): string {
  const escaped = heading.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const at = new RegExp(`^## ${escaped}[^\\n]*\\n[\\s\\S]*?(?=^## )`, 'm');
  if (at.test(md)) return md.replace(at, `${section}\n`);
  const goals = md.indexOf('## Against the goals');
  return goals < 0 ? `${md}\n${section}` : `${md.slice(0, goals)}${section}\n${md.slice(goals)}`;
}

/** The main thread's collector (a full GC), whether or not node was started with --expose-gc. */
export function collector(): () => void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) return g;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}
