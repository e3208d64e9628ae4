/**
 * text-stats: a skill with two pure tools over text.
 * - `stats` {text} → {chars, words, lines, sentences, avgWordLength}
 * - `top-words` {text, n?} → {words: [{word, count}]} (most frequent first, ties alphabetical)
 */
import type { ToolDescriptor, Error as WitError } from 'agentos:kernel/types';

type Result = string | { tag: 'err'; val: WitError };

const TEXT_ARGS = {
  type: 'object',
  properties: { text: { type: 'string' }, n: { type: 'integer', minimum: 1, maximum: 100 } },
  required: ['text'],
  additionalProperties: false,
};

export function describe(): ToolDescriptor[] {
  return [
    {
      name: 'stats',
      description: 'Counts characters, words, lines and sentences of a text.',
      inputSchema: JSON.stringify({ ...TEXT_ARGS, properties: { text: { type: 'string' } } }),
      outputSchema: JSON.stringify({
        type: 'object',
        properties: {
          chars: { type: 'integer' },
          words: { type: 'integer' },
          lines: { type: 'integer' },
          sentences: { type: 'integer' },
          avgWordLength: { type: 'number' },
        },
      }),
    },
    {
      name: 'top-words',
      description: 'The n most frequent words of a text (case-insensitive), most frequent first.',
      inputSchema: JSON.stringify(TEXT_ARGS),
    },
  ];
}

const invalid = (val: string): Result => ({ tag: 'err', val: { tag: 'invalid', val } });

/** Whitespace-separated runs, trimmed of surrounding punctuation (any script's letters count). */
function words(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.toLowerCase().split(/\s+/)) {
    const w = raw.replace(/^[.,;:!?"'()[\]{}<>«»“”‘’—–-]+|[.,;:!?"'()[\]{}<>«»“”‘’—–-]+$/g, '');
    if (w !== '') out.push(w);
  }
  return out;
}

export function invoke(tool: string, argsJson: string): Result {
  let args: { text?: unknown; n?: unknown };
  try {
    args = JSON.parse(argsJson) as typeof args;
  } catch {
    return invalid('arguments are not JSON');
  }
  if (typeof args !== 'object' || args === null || typeof args.text !== 'string') {
    return invalid('"text" (a string) is required');
  }
  const text = args.text;
  switch (tool) {
    case 'stats': {
      const w = words(text);
      const letters = w.reduce((n, x) => n + x.length, 0);
      return JSON.stringify({
        chars: [...text].length,
        words: w.length,
        lines: text === '' ? 0 : text.split(/\r\n|\r|\n/).length,
        sentences: (text.match(/[.!?]+(\s|$)/g) ?? []).length,
        avgWordLength: w.length === 0 ? 0 : Math.round((letters / w.length) * 100) / 100,
      });
    }
    case 'top-words': {
      const n = args.n === undefined ? 10 : args.n;
      if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 100)
        return invalid('"n" must be an integer 1..100');
      const counts = new Map<string, number>();
      for (const x of words(text)) counts.set(x, (counts.get(x) ?? 0) + 1);
      const top = [...counts]
        .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
        .slice(0, n)
        .map(([word, count]) => ({ word, count }));
      return JSON.stringify({ words: top });
    }
    default:
      return {
        tag: 'err',
        val: { tag: 'not-found', val: `no tool "${tool}"; this skill has stats and top-words` },
      };
  }
}
