/**
 * A realistic synthetic feedback task (issue 11): customer-support replies, rated 1-10 by a noisy
 * human-like rater following a rule a person could state. Used by the learning test and the demo
 * in place of vowel density, which a byte model learns by counting letters and which says
 * nothing about text.
 *
 * Prompts: `#<n> <customer message>` where the message comes from one of five topics (password,
 * refund, delivery, billing, account) and n in 0..PROMPT_IDS−1 (so prompts can be held out).
 * Responses: natural-language replies of 50-150 bytes composed from phrase banks, in the order
 * greeting, empathy, action, closing; each slot may be missing, the action may be the wrong
 * topic's, and a rude phrase may appear.
 *
 * True score (rule-based, in [−1, 1]; `trueScore`), the rater's rule:
 *   +0.45 the action answers the message's topic    −0.25 an action for another topic
 *   −0.35 no action at all                            +0.20 an empathy phrase
 *   +0.10 a greeting                                  +0.10 a closing
 *   −0.50 a rude phrase                               −0.30 a phrase repeated
 *   −0.30 outside 50-150 bytes (too terse or rambling); result clipped to [−1, 1].
 * Rating: 1 + 9 × (trueScore + 1) / 2, plus a rater bias ~ N(0, 0.4²) and noise ~ N(0, 0.6²) on
 * the 1-10 scale, rounded to a whole rating and clipped to 1..10, as people rate.
 *
 * `phraseCoverage` measures readability: the fraction of a reply's bytes covered by the task's
 * phrases (1 for a well-formed reply, near 0 for byte noise).
 */
import type { FeedbackExample } from '../../spec/train-val-split';
import type { Rng } from '../rng';

export const SUPPORT_TOPICS = ['password', 'refund', 'delivery', 'billing', 'account'] as const;
export type SupportTopic = (typeof SUPPORT_TOPICS)[number];

/** Distinct prompt ids `#0` .. `#PROMPT_IDS−1`; tests hold out the upper ones. */
export const SUPPORT_PROMPT_IDS = 100;

const MESSAGES: Record<SupportTopic, readonly string[]> = {
  password: ['I cannot log in, my password fails.', 'Password reset mail never came.'],
  refund: ['I want my money back for this order.', 'Where is my refund?'],
  delivery: ['My parcel has not arrived yet.', 'The delivery is late again.'],
  billing: ['I was charged twice this month.', 'My invoice shows a wrong amount.'],
  account: ['Please close my account.', 'I need to change my account email.'],
};

export const SUPPORT_PHRASES = {
  greeting: ['Hi there.', 'Hello!', 'Dear customer,'],
  empathy: ['Sorry for the trouble.', 'I understand, that is annoying.', 'Thanks for your patience.'],
  action: {
    password: ['I have reset your password.', 'A new login link is in your inbox.'],
    refund: ['Your refund is on its way.', 'I have refunded the order.'],
    delivery: ['Your parcel arrives tomorrow.', 'I have tracked your parcel.'],
    billing: ['I removed the double charge.', 'I corrected your invoice.'],
    account: ['Your account is updated.', 'I have closed your account.'],
  } satisfies Record<SupportTopic, readonly string[]>,
  closing: ['Have a good day.', 'Anything else, just ask.', 'Best regards.'],
  rude: ['Read the manual.', 'Not my problem.'],
} as const;

const ALL_PHRASES: readonly string[] = [
  ...SUPPORT_PHRASES.greeting,
  ...SUPPORT_PHRASES.empathy,
  ...Object.values(SUPPORT_PHRASES.action).flat(),
  ...SUPPORT_PHRASES.closing,
  ...SUPPORT_PHRASES.rude,
];

export const SUPPORT_LENGTH = { min: 50, max: 150 } as const;

/** The topic a prompt asks about (null for a prompt not from this task). */
export function promptTopic(prompt: string): SupportTopic | null {
  for (const t of SUPPORT_TOPICS) if (MESSAGES[t].some((m) => prompt.includes(m))) return t;
  return null;
}

function count(text: string, phrase: string): number {
  let n = 0;
  for (let i = text.indexOf(phrase); i >= 0; i = text.indexOf(phrase, i + phrase.length)) n++;
  return n;
}

/** The rater's rule (see the module comment); the prompt decides which action is right. */
export function trueScore(prompt: string, response: string): number {
  const topic = promptTopic(prompt);
  const has = (bank: readonly string[]) => bank.some((p) => response.includes(p));
  const right = topic !== null && has(SUPPORT_PHRASES.action[topic]);
  const wrong = SUPPORT_TOPICS.some((t) => t !== topic && has(SUPPORT_PHRASES.action[t]));
  let s = 0;
  if (right) s += 0.45;
  if (wrong) s -= 0.25;
  if (!right && !wrong) s -= 0.35;
  if (has(SUPPORT_PHRASES.empathy)) s += 0.2;
  if (has(SUPPORT_PHRASES.greeting)) s += 0.1;
  if (has(SUPPORT_PHRASES.closing)) s += 0.1;
  if (has(SUPPORT_PHRASES.rude)) s -= 0.5;
  if (ALL_PHRASES.some((p) => count(response, p) > 1)) s -= 0.3;
  const bytes = Buffer.byteLength(response, 'utf8');
  if (bytes < SUPPORT_LENGTH.min || bytes > SUPPORT_LENGTH.max) s -= 0.3;
  return Math.max(-1, Math.min(1, s));
}

/** Fraction of the reply's characters inside occurrences of the task's phrases (spaces between them count). */
export function phraseCoverage(response: string): number {
  if (response.length === 0) return 0;
  const covered = new Uint8Array(response.length);
  for (const p of ALL_PHRASES) {
    for (let i = response.indexOf(p); i >= 0; i = response.indexOf(p, i + 1)) covered.fill(1, i, i + p.length);
  }
  for (let i = 0; i < response.length; i++) if (response[i] === ' ') covered[i] = 1;
  return covered.reduce((a, c) => a + c, 0) / response.length;
}

/** A prompt `#<id> <message>` with a uniformly drawn topic and message. */
export function supportPrompt(id: number, rng: Rng): string {
  const topic = SUPPORT_TOPICS[rng.int(SUPPORT_TOPICS.length)];
  const msgs = MESSAGES[topic];
  return `#${id} ${msgs[rng.int(msgs.length)]}\n`;
}

const pick = <T>(xs: readonly T[], rng: Rng): T => xs[rng.int(xs.length)];

/**
 * A reply of varied quality: each row draws its own care level q ~ U(0, 1), and each good slot
 * is present with probability q, the right action with probability q (else a wrong one or none),
 * a rude phrase with probability (1 − q) / 3, a repeated phrase with probability 0.1.
 */
export function supportResponse(prompt: string, rng: Rng): string {
  const topic = promptTopic(prompt) ?? 'account';
  const q = rng.next();
  const parts: string[] = [];
  if (rng.next() < q) parts.push(pick(SUPPORT_PHRASES.greeting, rng));
  if (rng.next() < q) parts.push(pick(SUPPORT_PHRASES.empathy, rng));
  const a = rng.next();
  if (a < q) parts.push(pick(SUPPORT_PHRASES.action[topic], rng));
  else if (a < q + (1 - q) / 2) parts.push(pick(SUPPORT_PHRASES.action[pick(SUPPORT_TOPICS.filter((t) => t !== topic), rng)], rng));
  if (rng.next() < (1 - q) / 3) parts.push(pick(SUPPORT_PHRASES.rude, rng));
  if (rng.next() < q) parts.push(pick(SUPPORT_PHRASES.closing, rng));
  if (parts.length > 0 && rng.next() < 0.1) parts.push(parts[rng.int(parts.length)]);
  // Terse replies are rare in real feedback: most short ones get more closings (never one twice).
  if (parts.length === 0) parts.push(pick(SUPPORT_PHRASES.closing, rng));
  const pad = rng.next() < 0.85;
  for (const c of SUPPORT_PHRASES.closing) if (pad && parts.join(' ').length < SUPPORT_LENGTH.min && !parts.includes(c)) parts.push(c);
  return parts.join(' ');
}

export interface SupportFeedbackOptions {
  /** Prompt ids are drawn from [0, promptIds). Default SUPPORT_PROMPT_IDS. */
  promptIds?: number;
  /** Std of the per-row rater bias, rating points. Default 0.4. */
  raterBiasStd?: number;
  /** Std of the rating noise, rating points. Default 0.6. */
  noiseStd?: number;
}

/** The 1-10 rating a noisy rater gives a reply with this true score. */
export function rate(truth: number, rng: Rng, opts: SupportFeedbackOptions = {}): number {
  const noisy = 1 + (9 * (truth + 1)) / 2 + (opts.raterBiasStd ?? 0.4) * rng.normal() + (opts.noiseStd ?? 0.6) * rng.normal();
  return Math.max(1, Math.min(10, Math.round(noisy)));
}

/** n rated rows of the support task. */
export function makeSupportFeedback(n: number, rng: Rng, opts: SupportFeedbackOptions = {}): FeedbackExample[] {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`n must be a non-negative integer, got ${n}`);
  const ids = opts.promptIds ?? SUPPORT_PROMPT_IDS;
  return Array.from({ length: n }, () => {
    const prompt = supportPrompt(rng.int(ids), rng);
    const response = supportResponse(prompt, rng);
    return { prompt, response, score: rate(trueScore(prompt, response), rng, opts) };
  });
}
