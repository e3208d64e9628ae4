/**
 * counter: keeps a count in working memory, so it survives instance restarts and kernel
 * restarts. A message `{"by": n}` adds n (default 1); `{"reset": true}` sets it to 0.
 * Replies `{"count": n}`.
 */
import { write } from 'agentos:kernel/log';
import type { Message, Error as WitError } from 'agentos:kernel/types';
import { get, set } from 'agentos:kernel/working-memory';

type Outcome = string | { tag: 'err'; val: WitError };

let key = 'count';

export function init(config: string): void {
  const c = JSON.parse(config) as { key?: unknown };
  if (typeof c.key === 'string' && c.key !== '') key = c.key;
}

export function handle(message: Message): Outcome {
  const body = JSON.parse(message.body) as { by?: unknown; reset?: unknown } | null;
  let by = 1;
  if (body !== null && typeof body === 'object' && body.by !== undefined) {
    if (typeof body.by !== 'number' || !Number.isFinite(body.by)) {
      return { tag: 'err', val: { tag: 'invalid', val: '"by" must be a finite number' } };
    }
    by = body.by;
  }
  const before = Number(get(key) ?? '0');
  const count = body !== null && typeof body === 'object' && body.reset === true ? 0 : before + by;
  set(key, String(count));
  write('info', `count ${before} -> ${count}`, JSON.stringify({ by }));
  return JSON.stringify({ count });
}
