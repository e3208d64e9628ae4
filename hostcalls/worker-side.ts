/**
 * The worker's side of the functions a worker may answer itself (`Capability.posted`), by span
 * (`<cap>.<fn>`, the function as the glue names it). The worker builds one of each per instance;
 * every one here has its kernel side in the capability's `posted`, and a test checks both lists
 * agree.
 *
 * @example
 * const make = LOCAL_FUNCTIONS['log.write'];   // in the worker, when linking an instance
 * make().answer([level, text, '']);           // { value: undefined, commit }
 */
import type { LocalFunction } from '../kernel/capability.js';
import { localSend } from './ipc/local.js';

const nothing = { value: undefined, commit: (): void => {} };

export const LOCAL_FUNCTIONS: Readonly<Record<string, () => LocalFunction>> = {
  // A log line never fails and answers nothing.
  'log.write': () => ({ answer: () => nothing }),
  'ipc.send': localSend,
};
