/** The commands that run agents: `run`, `spawn`, `configure`, `send`, and suspend, resume, terminate. */
import {
  grantFlags,
  jsonFlag,
  print,
  seedFlag,
  settingsFlags,
  usage,
  type Values,
  wholeFlag,
} from './args.js';
import { type Command, need, withKernel } from './shared.js';

/** The spawn options `run` and `spawn` share, read and checked before the kernel opens. */
async function spawnFlags(v: Values) {
  return {
    grants: grantFlags(v),
    config: (await jsonFlag(v.config, '--config')) ?? {},
    name: v.name,
    ...(await settingsFlags(v)),
  };
}

/** Spawns, sends one message (or lists or calls a skill's tools), terminates. */
export const run: Command = async (v, p) => {
  const path = need(p, 1, 'the component file');
  // Every flag is read and checked before the kernel opens.
  const options = await spawnFlags(v);
  const message = (await jsonFlag(v.message, '--message')) ?? {};
  const args = (await jsonFlag(v.args, '--args')) ?? {};
  return withKernel(v, async (k) => {
    const id = await k.spawn(path, options);
    try {
      const world = k.inspect(id).world;
      if (world === 'skill') {
        if (v.tool === undefined) return print(await k.describe(id));
        return print(await k.invoke(id, v.tool, args));
      }
      return print(await k.send(id, message, { kind: v.kind ?? 'text' }));
    } finally {
      await k.terminate(id);
    }
  });
};

export const spawn: Command = async (v, p) => {
  const path = need(p, 1, 'the component file');
  const options = { ...(await spawnFlags(v)), seed: seedFlag(v.seed) };
  return withKernel(v, async (k) => print({ id: await k.spawn(path, options) }));
};

export const configure: Command = async (v, p) => {
  const id = need(p, 1, 'the agent id');
  const settings = await settingsFlags(v);
  return withKernel(v, async (k) => {
    const info = k.configure(id, settings);
    print({ id, limits: info.limits, priority: info.priority, weight: info.weight });
  });
};

export const send: Command = async (v, p) => {
  const id = need(p, 1, 'the agent id');
  if (v.message === undefined) throw usage('send needs --message JSON');
  const message = await jsonFlag(v.message, '--message');
  const timeoutMs = wholeFlag(v.timeout, '--timeout', 1);
  return withKernel(v, async (k) => print(await k.send(id, message, { kind: v.kind ?? 'text', timeoutMs })));
};

/** `suspend`, `resume` and `terminate`: the command's name says which. */
export const lifecycle: Command = async (v, p) => {
  const id = need(p, 1, 'the agent id');
  return withKernel(
    v,
    async (k) => {
      if (p[0] === 'suspend') k.suspend(id);
      else if (p[0] === 'resume') k.resume(id);
      else await k.terminate(id);
      print({ id, state: k.inspect(id).state });
    },
    true,
  );
};

/**
 * `agentos upgrade <agent-id> [name@range | file.wasm] [--force]`: onto the catalog's current
 * version, or the one named, once its recorded run replays the same on it (`--force`: anyway).
 */
export const upgrade: Command = async (v, p) => {
  const id = need(p, 1, 'the agent id');
  const to = p[2];
  return withKernel(v, async (k) => print(await k.upgrade(id, to, { force: v.force === true })), true);
};

/** `agentos fork <agent-id> [--name N]`: a new agent from where that one is (docs/snapshots.md). */
export const fork: Command = async (v, p) => {
  const id = need(p, 1, 'the agent id');
  return withKernel(v, async (k) =>
    print({ id: await k.fork(id, v.name === undefined ? {} : { name: v.name }) }),
  );
};

/**
 * `agentos export <agent-id> -o agent.bundle`: the agent moved into a portable file, terminated
 * here (docs/snapshots.md, *Migration*). Its queued messages go with it, undelivered.
 */
export const exportAgent: Command = async (v, p) => {
  const id = need(p, 1, 'the agent id');
  const out = v.out ?? `${id}.bundle`;
  return withKernel(
    v,
    async (k) => {
      const bytes = await k.export(id, { file: out });
      print({ id, bundle: out, bytes: bytes.length });
    },
    true,
  );
};

/** `agentos import <agent.bundle>`: the exported agent continues in this data dir, with its id. */
export const importAgent: Command = async (v, p) => {
  const file = need(p, 1, 'the bundle file');
  return withKernel(v, async (k) => print(await k.import(file)), true);
};
