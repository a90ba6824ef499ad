/**
 * Synthesised bad replies for reward-model training (issue 11): a reward model only ever shown
 * real replies extrapolates freely on replies unlike them, and PPO finds the reply it overrates.
 * In issue 11 that was the empty reply, scored 0.46 against 0.15 for the mean real reply, and the
 * policy collapsed to it within 10 updates. Each negative is derived from a real training reply:
 * - empty: "" (the collapse itself);
 * - truncated: the first 10-40 % of the reply's characters (a reply cut off mid-way);
 * - repeated: the reply's first word or two repeated up to the reply's length (a stuck decoder);
 * - shuffled: the reply's words in a random order (right words, no sentence).
 * All are scored at the lowest score in the training rows: "as bad as the worst reply seen",
 * on the rater's own scale, so the score normalisation does not move. Validation rows are never
 * touched, so the quality gate still measures the real data.
 */
import type { FeedbackExample } from '../spec/train-val-split';
import type { Rng } from './rng';

export const NegativeKinds = { empty: 'empty', truncated: 'truncated', repeated: 'repeated', shuffled: 'shuffled' } as const;
export type NegativeKind = (typeof NegativeKinds)[keyof typeof NegativeKinds];
const KINDS = Object.values(NegativeKinds);

/** The reply `source` made bad in the given way (pure; `rng` picks cut points and orders). */
export function negativeReply(kind: NegativeKind, source: string, rng: Rng): string {
  const chars = Array.from(source);
  const words = source.split(/\s+/).filter((w) => w.length > 0);
  switch (kind) {
    case NegativeKinds.empty:
      return '';
    case NegativeKinds.truncated:
      return chars.slice(0, Math.max(1, Math.floor(chars.length * (0.1 + 0.3 * rng.next())))).join('');
    case NegativeKinds.repeated: {
      const unit = words.slice(0, 1 + rng.int(2)).join(' ') || source.slice(0, 3);
      if (unit.length === 0) return '';
      let out = unit;
      while (out.length + unit.length + 1 <= Math.max(chars.length, unit.length)) out += ` ${unit}`;
      return out;
    }
    case NegativeKinds.shuffled: {
      if (words.length < 3) return words.reverse().join(' ');
      // A shuffle that leaves the order unchanged would be a positive; rotate it then.
      const order = rng.shuffle(words.map((_, i) => i));
      const fixed = order.every((v, i) => v === i) ? [...order.slice(1), order[0]] : order;
      return fixed.map((i) => words[i]).join(' ');
    }
  }
}

/**
 * `round(fraction × rows)` negatives, kinds in turn, each from a row drawn with `rng`, with that
 * row's prompt and the lowest score among `rows`. Empty input or fraction 0 gives none.
 */
export function synthesiseNegatives(rows: readonly FeedbackExample[], fraction: number, rng: Rng): FeedbackExample[] {
  if (!(fraction > 0) || rows.length === 0) return [];
  const floor = rows.reduce((m, r) => Math.min(m, r.score), Infinity);
  const n = Math.round(fraction * rows.length);
  return Array.from({ length: n }, (_, i) => {
    const row = rows[rng.int(rows.length)];
    return { prompt: row.prompt, response: negativeReply(KINDS[i % KINDS.length], row.response, rng), score: floor };
  });
}
