/**
 * An agent's journal read as the steps a replay takes: instance starts (init) with the hostcalls
 * they made, invocations with their input message, hostcalls and outcome, and upgrades to another
 * component. Lifecycle records are left out: they change nothing a guest sees.
 *
 * An invocation with no outcome ran nothing (its worker had lost the instance; the message was
 * delivered again after a new start) and is skipped. An outcome with no invocation (a message
 * that expired undelivered, an instance that failed to start) is left out too.
 *
 * @example
 * const { spawn, steps } = stepsOf([...journal.entries(id)], id);
 * for (const s of steps) if (s.t === 'invoke') console.log(s.invocation, s.calls.length);
 */
import { AgentOSError } from '../base/errors.js';
import type { JournalEntry } from '../store/journal.js';
import type { RecordedCall } from './cursor.js';

type Of<T extends JournalEntry['t']> = Extract<JournalEntry, { t: T }>;

export type Step =
  | { t: 'start'; entry: Of<'instance'>; calls: RecordedCall[] }
  | {
      t: 'invoke';
      /** 1-based, over the invocations that ran. */
      invocation: number;
      entry: Of<'invoke'>;
      calls: RecordedCall[];
      outcome: Of<'outcome'>;
    }
  | { t: 'upgrade'; entry: Of<'upgrade'> }
  | { t: 'settings'; entry: Of<'settings'> };

export interface Recorded {
  spawn: Of<'spawn'>;
  steps: Step[];
  /** Invocations that ran (what `--to` counts). */
  invocations: number;
  /** Why the first instance start failed (its init), when it did: the spawn was refused. */
  initFailed?: string;
}

/** @throws AgentOSError AOS_E_REPLAY when the journal does not start at the agent's spawn */
export function stepsOf(
  entries: readonly JournalEntry[],
  agent: string,
  /** The entries after the spawn are a checkpoint's tail (its state is the first instance's). */
  tail = false,
): Recorded {
  const spawn = entries[0];
  if (spawn?.t !== 'spawn')
    throw new AgentOSError(
      'AOS_E_REPLAY',
      `the journal of ${agent} does not start at its spawn (${spawn ? `its first entry is ${spawn.t} #${spawn.seq}` : 'it is empty'}): nothing to replay from`,
      { agent },
    );
  if (spawn.from && !tail)
    throw new AgentOSError(
      'AOS_E_REPLAY',
      `${agent} was forked from ${spawn.from.agent}: its first instance started from a snapshot, which a replay cannot rebuild yet`,
      { agent, from: spawn.from.agent },
    );
  const steps: Step[] = [];
  let open: { entry: Of<'invoke'>; calls: RecordedCall[] } | null = null;
  let calls: RecordedCall[] | null = null; // where hostcalls go now
  let invocation = 0;
  let initFailed: string | undefined;
  for (const e of entries.slice(1)) {
    switch (e.t) {
      case 'instance': {
        open = null;
        const step: Step = { t: 'start', entry: e, calls: [] };
        steps.push(step);
        calls = step.calls;
        break;
      }
      case 'invoke':
        open = { entry: e, calls: [] };
        calls = open.calls;
        break;
      case 'hostcall':
        calls?.push(e);
        break;
      case 'outcome':
        if (open && open.entry.message.id === e.messageId) {
          invocation += 1;
          steps.push({ t: 'invoke', invocation, entry: open.entry, calls: open.calls, outcome: e });
        }
        open = null;
        calls = null;
        break;
      case 'upgrade':
        open = null;
        calls = null;
        steps.push({ t: 'upgrade', entry: e });
        break;
      case 'settings':
        steps.push({ t: 'settings', entry: e });
        break;
      case 'lifecycle':
        // A spawn whose init failed ends right after its first start.
        if (e.op === 'terminate' && invocation === 0 && steps.length === 1 && steps[0]!.t === 'start')
          initFailed = e.detail ?? '';
        break;
      default:
        break;
    }
  }
  return { spawn, steps, invocations: invocation, ...(initFailed === undefined ? {} : { initFailed }) };
}
