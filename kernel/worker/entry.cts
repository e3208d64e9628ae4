/**
 * The file piscina loads in each worker. Piscina require()s its entry before it tries import(),
 * and for an ES module that goes through Node 20's require(esm), which has aborted a whole
 * process with a fatal error ("v8::Module::IsGraphAsync must be used on an instantiated
 * module", in ModuleWrap::InstantiateSync) when a worker was started while the pool was busy
 * starting and stopping others. This CommonJS file is what require() finds; it loads the worker
 * itself (agent-worker.js, an ES module) with import().
 */
import type { ServeTask } from './protocol.js';

type Serve = (task: ServeTask) => Promise<void>;

let serve: Promise<Serve> | undefined;

export = async function entry(task: ServeTask): Promise<void> {
  serve ??= import('./agent-worker.js').then((m) => m.default);
  return (await serve)(task);
};
