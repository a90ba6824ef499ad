/**
 * The evaluation phase of every run (issue 11): does the final policy beat the policy the run
 * started from, on prompts PPO never trained on, by the reward model, and at what cost in KL,
 * length and diversity?
 *
 * The start policy is the same model with its LoRA adapters off (the SFT policy, or the frozen
 * base on a Hugging Face base), which is also PPO's reference, so no second copy is loaded.
 * Both policies answer the same `samplesPerPrompt` × prompts with one fixed sampling seed each;
 * sample i of prompt p of the start policy is paired with sample i of prompt p of the final one.
 *
 * Figures carry 95 % percentile-bootstrap intervals, resampling prompts (a cluster bootstrap:
 * a prompt's samples travel together, since they are not independent). The gain is significant
 * when the interval of the paired RM-score difference lies above 0.
 *
 * Verdict: `improved` only when the gain is significant AND the final policy is not degenerate
 * (replies empty or shorter than half the start's mean length: the collapse of issue 11, where
 * the reward model scored the empty reply above real ones). Everything else is `not_improved`,
 * with the reason.
 */
import type { GenerationConfig } from '../spec/run-config';
import type { GptModel } from './model';
import type { RewardModel } from './reward-model';
import { Rng } from './rng';
import { generateYielding } from './sampling';
import { yieldToEventLoop } from './event-loop';
import { packSequences, rolloutForward } from './ppo-forward';
import { rolloutPromptIds, responseText } from './ppo-rollout';
import type { Tokenizer } from './tokenizer';
import { tf } from './tf';
import { EvaluationVerdicts } from '../common/names';
import type { EvaluationReport, Interval, PolicyEvaluation, SamplePair } from '../common/evaluation-report';

export type { EvaluationReport, Interval, PolicyEvaluation, SamplePair } from '../common/evaluation-report';
export { EvaluationVerdicts, type EvaluationVerdict } from '../common/names';

export interface EvaluationOptions {
  policy: GptModel;
  reward: RewardModel;
  tokenizer: Tokenizer;
  /** Held-out prompts (duplicates are removed, order kept). */
  prompts: readonly string[];
  generation: GenerationConfig;
  blockSize: number;
  samplesPerPrompt: number;
  /** At most this many prompts are used (the first ones). */
  maxPrompts: number;
  /** Seeds sampling (the same for both policies) and the bootstrap. */
  seed: number;
  bootstrapResamples?: number;
  /** Paired samples kept in the report. */
  pairsShown?: number;
  /** Rows per generation batch (memory only; the draws depend on it, so it is fixed per run). */
  batchSize?: number;
}

export interface EvaluationSamples {
  prompts: string[];
  start: string[];
  final: string[];
}

const DEFAULT_RESAMPLES = 1000;

/** Percentile-bootstrap interval of `stat` over clusters (prompts), seeded. */
export function clusterBootstrap(clusters: readonly (readonly number[])[], resamples: number, rng: Rng): Interval {
  const all = clusters.flat();
  const m = all.reduce((a, x) => a + x, 0) / Math.max(1, all.length);
  if (clusters.length < 2 || resamples < 1) return { mean: m, lo: m, hi: m };
  const stats: number[] = [];
  for (let r = 0; r < resamples; r++) {
    let sum = 0;
    let n = 0;
    for (let i = 0; i < clusters.length; i++) {
      const c = clusters[rng.int(clusters.length)];
      for (const x of c) sum += x;
      n += c.length;
    }
    stats.push(n > 0 ? sum / n : 0);
  }
  stats.sort((a, b) => a - b);
  const at = (q: number) => stats[Math.min(stats.length - 1, Math.max(0, Math.floor(q * stats.length)))];
  return { mean: m, lo: at(0.025), hi: at(0.975) };
}

/** Distinct-n: distinct n-grams over all n-grams of the replies' whitespace tokens (0 when there are none). */
export function distinctN(texts: readonly string[], n: number): number {
  const seen = new Set<string>();
  let total = 0;
  for (const t of texts) {
    const words = t.split(/\s+/).filter((w) => w.length > 0);
    for (let i = 0; i + n <= words.length; i++) {
      seen.add(words.slice(i, i + n).join(' '));
      total += 1;
    }
  }
  return total > 0 ? seen.size / total : 0;
}

interface Side {
  texts: string[];
  rewards: number[];
  kl: number[];
  lengths: number[];
}

/** Samples and measures one policy (adapters on = final, off = start). */
async function sampleSide(o: EvaluationOptions, prompts: string[], adapters: boolean): Promise<Side> {
  const tok = o.tokenizer;
  const rows = prompts.flatMap((p) => Array.from({ length: o.samplesPerPrompt }, () => p));
  const batch = o.batchSize ?? 32;
  const rng = new Rng(o.seed);
  const side: Side = { texts: [], rewards: [], kl: [], lengths: [] };
  for (let start = 0; start < rows.length; start += batch) {
    const chunk = rows.slice(start, start + batch);
    const queries = chunk.map((p) => rolloutPromptIds(tok, p, o.blockSize, o.generation.maxNewTokens));
    const { responses } = await generateYielding(o.policy, queries, { ...o.generation, eosId: tok.eosId, padId: tok.padId, adapters }, rng);
    const texts = responses.map((r) => responseText(tok, r));
    side.texts.push(...texts);
    side.lengths.push(...responses.map((r) => r.length));
    side.rewards.push(...o.reward.score(tok, chunk.map((prompt, i) => ({ prompt, response: texts[i] }))));
    // The start policy IS the reference (adapters off), so its KL to it is 0 by definition; computing
    // log π − log π_ref here would use the adapters-on π, i.e. the final policy scored on the start's samples.
    side.kl.push(...(adapters ? sequenceKl(o.policy, queries, responses, tok.padId, o.generation.temperature) : chunk.map(() => 0)));
    await yieldToEventLoop(); // a worker's heartbeat runs between batches
  }
  return side;
}

/** Σ over response tokens of log π − log π_ref for each row (0 for an empty response). */
function sequenceKl(policy: GptModel, queries: number[][], responses: number[][], padId: number, temperature: number): number[] {
  const nonEmpty = responses.map((r) => (r.length > 0 ? r : [padId]));
  const packed = packSequences({ queries, responses: nonEmpty }, padId);
  try {
    const kl = tf.tidy(() => {
      const fwd = rolloutForward(policy, packed, temperature);
      return tf.sum(tf.mul(tf.sub(fwd.logprobs, fwd.refLogprobs), packed.responseMask), 1);
    });
    const out = Array.from(kl.dataSync());
    kl.dispose();
    return out.map((v, i) => (responses[i].length > 0 ? v : 0));
  } finally {
    tf.dispose([packed.ids, packed.attentionMask, packed.responseMask]);
  }
}

function byPrompt(xs: readonly number[], k: number): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < xs.length; i += k) out.push(xs.slice(i, i + k));
  return out;
}

function summarise(side: Side, k: number, resamples: number, seed: number): PolicyEvaluation {
  return {
    rewardMean: clusterBootstrap(byPrompt(side.rewards, k), resamples, new Rng(seed)),
    klToReference: clusterBootstrap(byPrompt(side.kl, k), resamples, new Rng(seed)),
    responseLength: clusterBootstrap(byPrompt(side.lengths, k), resamples, new Rng(seed)),
    emptyFraction: side.texts.filter((t) => t.trim().length === 0).length / Math.max(1, side.texts.length),
    distinct1: distinctN(side.texts, 1),
    distinct2: distinctN(side.texts, 2),
  };
}

/**
 * Why the final policy does not count as improved, or null when it does: degenerate replies
 * (more than half empty, or under half the start's mean length) first, whatever the reward
 * model says (issue 11's collapse scored the empty reply high); then a gain whose 95 % CI is
 * not above 0.
 */
export function notImprovedReason(
  start: Pick<PolicyEvaluation, 'emptyFraction' | 'responseLength'>,
  final: Pick<PolicyEvaluation, 'emptyFraction' | 'responseLength'>,
  rewardGain: Interval,
): string | null {
  if (final.emptyFraction > Math.max(0.5, start.emptyFraction)) {
    return `${(100 * final.emptyFraction).toFixed(0)} % of the final policy's replies are empty`;
  }
  if (final.responseLength.mean < 0.5 * start.responseLength.mean) {
    return `the final policy's replies average ${final.responseLength.mean.toFixed(1)} tokens, under half the start policy's ${start.responseLength.mean.toFixed(1)}`;
  }
  if (!(rewardGain.lo > 0)) {
    return `the reward-model gain ${rewardGain.mean.toFixed(3)} (95 % CI ${rewardGain.lo.toFixed(3)} to ${rewardGain.hi.toFixed(3)}) is not above 0`;
  }
  return null;
}

/** Samples both policies on the held-out prompts and compares them (see the module comment). */
export async function evaluatePolicies(o: EvaluationOptions): Promise<{ report: EvaluationReport; samples: EvaluationSamples }> {
  const prompts = [...new Set(o.prompts)].slice(0, o.maxPrompts);
  if (prompts.length === 0 || o.samplesPerPrompt < 1) throw new RangeError('evaluation needs at least one prompt and one sample per prompt');
  const k = o.samplesPerPrompt;
  const resamples = o.bootstrapResamples ?? DEFAULT_RESAMPLES;
  const start = await sampleSide(o, prompts, false);
  const final = await sampleSide(o, prompts, true);
  const diff = final.rewards.map((r, i) => r - start.rewards[i]);
  const wins = final.rewards.map((r, i) => (r > start.rewards[i] ? 1 : r === start.rewards[i] ? 0.5 : 0));
  const bootSeed = o.seed + 1;
  const rewardGain = clusterBootstrap(byPrompt(diff, k), resamples, new Rng(bootSeed));
  const winRate = clusterBootstrap(byPrompt(wins, k), resamples, new Rng(bootSeed));
  const s = summarise(start, k, resamples, bootSeed);
  const f = summarise(final, k, resamples, bootSeed);
  const significant = rewardGain.lo > 0;
  const reason = notImprovedReason(s, f, rewardGain);
  const shown = Math.min(o.pairsShown ?? 5, prompts.length);
  const pairs: SamplePair[] = Array.from({ length: shown }, (_, j) => {
    const i = j * k; // the first sample of each of the first prompts
    return { prompt: prompts[j], start: start.texts[i], final: final.texts[i], startReward: start.rewards[i], finalReward: final.rewards[i] };
  });
  const rows = prompts.flatMap((p) => Array.from({ length: k }, () => p));
  return {
    report: {
      prompts: prompts.length,
      samplesPerPrompt: k,
      seed: o.seed,
      start: s,
      final: f,
      rewardGain,
      winRate,
      significant,
      verdict: reason === null ? EvaluationVerdicts.improved : EvaluationVerdicts.notImproved,
      reason,
      pairs,
    },
    samples: { prompts: rows, start: start.texts, final: final.texts },
  };
}
