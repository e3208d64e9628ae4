/** `agentos build`, `agentos inspect` and `agentos meter`: components and core modules, no kernel. */
import { writeFile } from 'node:fs/promises';
import { stderr } from 'node:process';
import { instrumentInThread } from '../../kernel/fuel/thread.js';
import { inspectComponent, readComponent } from '../../kernel/loader/loader.js';
import { checkSignatures } from '../../kernel/signing/signature.js';
import { TrustStore } from '../../kernel/signing/trust.js';
import { type BuildOptions, buildComponent } from '../build.js';
import { ENGINES, type Engine } from '../engines.js';
import { print, usage } from './args.js';
import { type Command, homeOf, need } from './shared.js';

export const build: Command = async (v, p) => {
  const world = v.world as BuildOptions['world'];
  if (world !== undefined && world !== 'agent' && world !== 'skill')
    throw usage('--world must be agent or skill');
  const engine = v.engine as Engine | undefined;
  if (engine !== undefined && !ENGINES.includes(engine))
    throw usage(`--engine must be ${ENGINES.join(' or ')}`);
  if (!v.out) throw usage('build needs -o <out.wasm>');
  const options: BuildOptions = {
    out: v.out,
    ...(world ? { world } : {}),
    ...(engine ? { engine } : {}),
    ...(v.manifest ? { manifest: v.manifest } : {}),
  };
  print(await buildComponent(need(p, 1, 'the source file'), options));
};

export const inspect: Command = async (v, p) => {
  const path = need(p, 1, 'the component file');
  const bytes = await readComponent(path);
  const info = await inspectComponent(bytes, path);
  // Who signed it, checked against the data dir's trust store (key ids only: no verdict here).
  const trusted = TrustStore.at(homeOf(v)).known();
  const report = checkSignatures(
    bytes,
    trusted.map((k) => k.publicKey),
    path,
  );
  const signatures = report.signatures.map((s) => ({
    keyId: s.keyId,
    verified: s.key !== null,
    publisher: trusted.find((k) => k.publicKey.id === s.key?.id)?.publisher.publisher ?? null,
  }));
  const signing = { signed: report.signed, covered: report.covered, signatures, stale: report.stale };
  if (v.json) return print({ ...info, signing });
  const { wit: _wit, ...rest } = info;
  print({
    file: path,
    sha256: rest.digest,
    size: rest.size,
    world: rest.world,
    imports: rest.imports,
    exports: rest.exports,
    ...(rest.exportProblems.length > 0 ? { exportProblems: rest.exportProblems } : {}),
    manifest: rest.manifest,
    signing,
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
