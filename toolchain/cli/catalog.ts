/**
 * The catalog commands: `install`, `update`, `rollback`, `uninstall`, `installed`, `search`,
 * and `publish` / `pull` / `published` to and from a registry: an OCI registry over HTTP, or a
 * directory of OCI image layouts (`file:<dir>`) for offline use.
 * `spawn` and `run` take an installed name (`text-stats`, `text-stats@^1.2`) in place of a file.
 *
 *   agentos install components/dist/text-stats.wasm      # beside the versions already there
 *   agentos update dist/text-stats-1.3.wasm               # and make it current
 *   agentos rollback text-stats                           # the version current before
 *   agentos uninstall text-stats[@1.2.0]
 *   agentos installed | agentos search words --capability log
 *   agentos run text-stats@^1.2 --tool stats --args '{"text":"a b"}'
 *   agentos publish dist/text-stats.wasm --registry http://127.0.0.1:5000 [--force]
 *   agentos pull agentos-dev/text-stats:1.0.0 --registry http://127.0.0.1:5000
 *   agentos publish dist/text-stats.wasm --registry file:./skills      # offline
 *   agentos published agentos-dev/text-stats --registry file:./skills  # its versions
 */
import { print, usage } from './args.js';
import { type Command, need, withKernel } from './shared.js';

export const install: Command = async (v, p) => {
  const path = need(p, 1, 'the component file');
  return withKernel(v, async (k) => print(await k.catalog.install(path, { force: v.force === true })), true);
};

export const update: Command = async (v, p) => {
  const path = need(p, 1, 'the component file');
  return withKernel(v, async (k) => print(await k.catalog.update(path, { force: v.force === true })), true);
};

export const rollback: Command = async (v, p) => {
  const name = need(p, 1, 'the component name');
  return withKernel(v, async (k) => print(await k.catalog.rollback(name)), true);
};

export const uninstall: Command = async (v, p) => {
  const ref = need(p, 1, 'name or name@version');
  const at = ref.indexOf('@');
  const [name, version] = at === -1 ? [ref, undefined] : [ref.slice(0, at), ref.slice(at + 1)];
  if (version === '') throw usage('uninstall takes name or name@version');
  return withKernel(v, async (k) => print({ uninstalled: await k.catalog.uninstall(name, version) }), true);
};

export const installed: Command = async (v) => withKernel(v, async (k) => print(k.catalog.list()), true);

export const search: Command = async (v, p) => {
  const text = p.slice(1).join(' ');
  const query = {
    ...(text ? { text } : {}),
    ...(v.name ? { name: v.name } : {}),
    ...(v.capability ? { capability: v.capability } : {}),
  };
  return withKernel(v, async (k) => print(k.catalog.search(query)), true);
};

export const publish: Command = async (v, p) => {
  const path = need(p, 1, 'the component file');
  if (!v.registry) throw usage('publish needs --registry http://host:port or file:<dir>');
  const registry = v.registry;
  return withKernel(
    v,
    async (k) => print(await k.catalog.publish(path, registry, { force: v.force === true })),
    true,
  );
};

export const pull: Command = async (v, p) => {
  const reference = need(p, 1, 'publisher/name:version');
  if (!v.registry) throw usage('pull needs --registry http://host:port or file:<dir>');
  const registry = v.registry;
  return withKernel(
    v,
    async (k) => print(await k.catalog.pull(registry, reference, { force: v.force === true })),
    true,
  );
};

export const published: Command = async (v, p) => {
  const repo = need(p, 1, 'publisher/name');
  if (!v.registry) throw usage('published needs --registry http://host:port or file:<dir>');
  const registry = v.registry;
  return withKernel(
    v,
    async (k) => print({ repo, versions: await k.catalog.published(registry, repo) }),
    true,
  );
};
