/**
 * The `agentos` command line's flags: parsed strictly (a single-value flag given twice is an
 * error, not "the last one wins"), JSON read from the flag, a file (`@body.json`) or stdin (`-`)
 * so a body need not fit in argv, values checked here that the kernel would refuse later
 * (limits, priority, weight, seed, whole numbers) so that they exit 2 as usage errors, and
 * results printed at any depth. Every usage error is an AOS_E_BAD_ARGUMENT.
 *
 * @example
 * const { values, positionals } = parseFlags(argv.slice(2), USAGE);
 * const body = await jsonFlag(values.message, '--message');   // JSON text, `@file` or `-`
 * print(await kernel.send(id, body));
 */
import { readFile } from 'node:fs/promises';
import { stdin, stdout } from 'node:process';
import { parseArgs } from 'node:util';
import type { SpawnOptions } from '../../kernel/api.js';
import { AgentOSError } from '../../kernel/base/errors.js';
import { toJson } from '../../kernel/base/json.js';
import { checkPriority, checkWeight, DEFAULT_LIMITS, resolveLimits } from '../../kernel/base/limits.js';
import { LOG_LEVELS } from '../../kernel/options.js';
import { parseSeed } from '../../kernel/spawn-options.js';

export const OPTIONS = {
  home: { type: 'string' },
  'log-level': { type: 'string' },
  world: { type: 'string' },
  engine: { type: 'string' },
  out: { type: 'string', short: 'o' },
  grant: { type: 'string', multiple: true },
  config: { type: 'string' },
  message: { type: 'string' },
  kind: { type: 'string' },
  tool: { type: 'string' },
  args: { type: 'string' },
  name: { type: 'string' },
  seed: { type: 'string' },
  from: { type: 'string' },
  to: { type: 'string' },
  agents: { type: 'string' },
  component: { type: 'string' },
  limit: { type: 'string' },
  timeout: { type: 'string' },
  limits: { type: 'string' },
  priority: { type: 'string' },
  weight: { type: 'string' },
  json: { type: 'boolean' },
  salvage: { type: 'string' },
  key: { type: 'string' },
  trust: { type: 'boolean' },
  expires: { type: 'string' },
  capabilities: { type: 'string' },
  manifest: { type: 'string' },
  force: { type: 'boolean' },
  prune: { type: 'boolean' },
  archive: { type: 'string' },
  registry: { type: 'string' },
  capability: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export type Values = ReturnType<
  typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>
>['values'];

/** A usage error: AOS_E_BAD_ARGUMENT, exit code 2. */
export const usage = (message: string): AgentOSError => new AgentOSError('AOS_E_BAD_ARGUMENT', message);

/** The flags that may be given more than once (`--grant log --grant clock`). */
const MULTIPLE = new Set(Object.entries(OPTIONS).flatMap(([name, o]) => ('multiple' in o ? [name] : [])));

const parseWithTokens = (args: string[]) =>
  parseArgs({ args, options: OPTIONS, allowPositionals: true, strict: true, tokens: true });

/** Parses argv; unknown options and repeated single-value flags are usage errors. */
export function parseFlags(args: string[], usageText: string): { values: Values; positionals: string[] } {
  let parsed: ReturnType<typeof parseWithTokens>;
  try {
    parsed = parseWithTokens(args);
  } catch (e) {
    throw usage(`${(e as Error).message}\n\n${usageText}`);
  }
  const seen = new Map<string, number>();
  for (const t of parsed.tokens) {
    if (t.kind !== 'option') continue;
    const n = (seen.get(t.name) ?? 0) + 1;
    seen.set(t.name, n);
    if (n === 2 && !MULTIPLE.has(t.name)) throw usage(`--${t.name} is given more than once; give it once`);
  }
  return { values: parsed.values, positionals: parsed.positionals };
}

let stdinTakenBy: string | undefined;

/** The text of a flag: as given, read from a file (`@path`), or from stdin (`-`). */
async function flagText(raw: string | undefined, flag: string): Promise<string | undefined> {
  if (raw === '-') {
    if (stdinTakenBy) throw usage(`${flag} and ${stdinTakenBy} cannot both read stdin`);
    stdinTakenBy = flag;
    const chunks: Buffer[] = [];
    for await (const chunk of stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }
  if (raw?.startsWith('@')) {
    try {
      return await readFile(raw.slice(1), 'utf8');
    } catch (e) {
      throw usage(`${flag}: cannot read ${raw.slice(1)}: ${(e as Error).message}`);
    }
  }
  return raw;
}

/** The JSON value of a flag (text, `@file` or `-`); undefined when the flag is absent. */
export async function jsonFlag(raw: string | undefined, flag: string): Promise<unknown> {
  const text = await flagText(raw, flag);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch (e) {
    throw usage(`${flag} is not valid JSON: ${(e as Error).message}`);
  }
}

/** A whole number flag (at least `min`), or undefined when absent. */
export function wholeFlag(raw: string | undefined, flag: string, min = 0): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isSafeInteger(n) || n < min)
    throw usage(
      `${flag} must be a whole number${min > 0 ? ` of at least ${min}` : ''}, got ${JSON.stringify(raw)}`,
    );
  return n;
}

/** Runs a kernel check on a flag's value; its AOS_E_BAD_CONFIG becomes a usage error. */
function checked<T>(flag: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (!(e instanceof AgentOSError) || e.code !== 'AOS_E_BAD_CONFIG') throw e;
    if (e.message.startsWith(flag)) throw usage(e.message);
    throw usage(e.message.startsWith(flag.slice(2)) ? `--${e.message}` : `${flag}: ${e.message}`);
  }
}

/** --limits, --priority and --weight, checked as the kernel checks them. */
export async function settingsFlags(
  v: Values,
): Promise<Pick<SpawnOptions, 'limits' | 'priority' | 'weight'>> {
  const out: Pick<SpawnOptions, 'limits' | 'priority' | 'weight'> = {};
  if (v.limits !== undefined) {
    const limits = await jsonFlag(v.limits, '--limits');
    checked('--limits', () => resolveLimits(DEFAULT_LIMITS, limits, '--limits'));
    out.limits = limits as SpawnOptions['limits'];
  }
  if (v.priority !== undefined) out.priority = checked('--priority', () => checkPriority(v.priority));
  if (v.weight !== undefined) {
    const w = Number(v.weight);
    if (v.weight.trim() === '' || !Number.isFinite(w))
      throw usage(`--weight must be a number, got ${JSON.stringify(v.weight)}`);
    out.weight = checked('--weight', () => checkWeight(w));
  }
  return out;
}

/** --log-level, one of pino's levels (default `warn`). */
export function logLevelFlag(v: Values): string {
  const level = v['log-level'] ?? 'warn';
  if (!(LOG_LEVELS as readonly string[]).includes(level))
    throw usage(`--log-level must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(level)}`);
  return level;
}

/** --seed, checked as the kernel checks it. */
export function seedFlag(raw: string | undefined): string | undefined {
  return raw === undefined ? undefined : checked('--seed', () => parseSeed(raw));
}

/** Every --grant, split at commas. */
export const grantFlags = (v: Values): string[] =>
  (v.grant ?? []).flatMap((g) => g.split(',')).filter((g) => g !== '');

/**
 * JSON text of any value, at any depth: indented while it nests at most 100 levels (deeper,
 * indentation alone would grow with the square of the depth), on one line beyond.
 */
export function jsonOut(value: unknown, replace: (v: unknown) => unknown, indent = 2): string {
  const pretty = indent > 0 ? toJson(value, { strict: false, indent, maxDepth: 100, replace }) : null;
  const r =
    pretty?.text !== undefined ? pretty : toJson(value, { strict: false, maxDepth: Infinity, replace });
  if (r.text === undefined)
    throw new AgentOSError(
      'AOS_E_INTERNAL',
      `cannot print the result: ${r.problem.reason} at ${r.problem.path}`,
    );
  return r.text;
}

/** Prints a result on stdout as indented JSON (bigints as strings). */
export function print(value: unknown): void {
  stdout.write(`${jsonOut(value, (v) => (typeof v === 'bigint' ? v.toString() : v))}\n`);
}
