/**
 * The worker's side of `tally.bump`: it answers nothing, so the worker answers it at once and
 * posts it; the kernel applies it (index.ts, `posted.bump`) before the agent's next blocking call.
 */
import type { WorkerSide } from '../../kernel/sdk/index.js';

export const local: WorkerSide = {
  bump: () => ({ answer: () => ({ value: undefined, commit: () => {} }) }),
};
