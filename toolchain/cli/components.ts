/** `agentos build`, `agentos inspect` and `agentos meter`: components and core modules, no kernel. */
import { writeFile } from 'node:fs/promises';
import { stderr } from 'node:process';
import { instrumentInThread } from '../../kernel/fuel/thread.js';
import { inspectComponent, readComponent } from '../../kernel/loader/loader.js';
import { buildComponent } from '../build.js';
import { print, usage } from './args.js';
import { type Command, need } from './shared.js';

export const build: Command = async (v, p) => {
  const world = v.world ?? 'agent';
  if (world !== 'agent' && world !== 'skill') throw usage('--world must be agent or skill');
  if (!v.out) throw usage('build needs -o <out.wasm>');
  print(await buildComponent(need(p, 1, 'the source file'), { world, out: v.out }));
};

export const inspect: Command = async (v, p) => {
  const path = need(p, 1, 'the component file');
  const info = await inspectComponent(await readComponent(path), path);
  if (v.json) return print(info);
  const { wit: _wit, ...rest } = info;
  print({
    file: path,
    sha256: rest.digest,
    size: rest.size,
    world: rest.world,
    imports: rest.imports,
    exports: rest.exports,
    ...(rest.exportProblems.length > 0 ? { exportProblems: rest.exportProblems } : {}),
  });
};

export const meter: Command = async (v, p) => {
  const path = need(p, 1, 'the core module');
  if (!v.out) throw usage('meter needs -o <out.wasm>');
  const bytes = await readComponent(path);
  const r = await instrumentInThread(bytes, path, (phase) => stderr.write(`${phase}…\n`));
  await writeFile(v.out, r.bytes);
  print({ out: v.out, size: r.bytes.length, ...r.stats });
};
