/**
 * PPO phases 1-2: pick the next prompts, sample responses from the policy, score them.
 *
 * The data-order cursor is part of the trainer's state: prompts are visited in a seeded
 * shuffled order, reshuffled at the end of each pass, so a resumed run draws exactly the
 * prompts the uninterrupted run would have drawn (TRL 0.7 iterates a shuffled dataloader
 * the same way, but loses its position on restart).
 */
import type { GenerationConfig } from '../spec/run-config';
import type { GptModel } from './model';
import type { RewardModel } from './reward-model';
import type { Rng } from './rng';
import { generateYielding } from './sampling';
import { encodePrompt } from './dataset';
import type { Tokenizer } from './tokenizer';
import { PpoStateError } from './ppo-errors';

/** Serialisable position in the shuffled prompt order. */
export interface PromptCursorState {
  /** Indices into the prompt list, in the order of the current pass. */
  order: number[];
  /** Next index into `order`. */
  position: number;
  /** Completed passes over the prompt list. */
  pass: number;
}

/** Seeded cursor over a shuffled prompt list; its state is saved in every checkpoint. */
export class PromptCursor {
  private constructor(
    private readonly nPrompts: number,
    private state: PromptCursorState,
  ) {}

  static create(nPrompts: number, rng: Rng): PromptCursor {
    if (!Number.isInteger(nPrompts) || nPrompts <= 0) {
      throw new PpoStateError(`PPO needs at least one prompt, got ${nPrompts}`, 'prompts');
    }
    return new PromptCursor(nPrompts, { order: shuffledRange(nPrompts, rng), position: 0, pass: 0 });
  }

  static fromState(nPrompts: number, state: PromptCursorState): PromptCursor {
    const valid =
      state.order.length === nPrompts &&
      Number.isInteger(state.position) &&
      state.position >= 0 &&
      state.position <= nPrompts &&
      new Set(state.order).size === nPrompts &&
      state.order.every((i) => Number.isInteger(i) && i >= 0 && i < nPrompts);
    if (!valid) {
      throw new PpoStateError(
        `checkpointed prompt order does not fit ${nPrompts} prompts; resume with the prompt list the run started with`,
        'cursor',
      );
    }
    return new PromptCursor(nPrompts, { order: [...state.order], position: state.position, pass: state.pass });
  }

  /** The next `n` prompt indices; starts a freshly shuffled pass when the current one ends. */
  take(n: number, rng: Rng): number[] {
    const out: number[] = [];
    while (out.length < n) {
      if (this.state.position >= this.nPrompts) {
        this.state = { order: shuffledRange(this.nPrompts, rng), position: 0, pass: this.state.pass + 1 };
      }
      out.push(this.state.order[this.state.position++]);
    }
    return out;
  }

  getState(): PromptCursorState {
    return { order: [...this.state.order], position: this.state.position, pass: this.state.pass };
  }
}

function shuffledRange(n: number, rng: Rng): number[] {
  return rng.shuffle(Array.from({ length: n }, (_, i) => i));
}

/**
 * Token ids of a prompt as the policy sees it: `[BOS] prompt-bytes` (ml/dataset's format),
 * cut from the left so that prompt + `maxNewTokens` fits the block.
 */
export function rolloutPromptIds(tok: Tokenizer, prompt: string, blockSize: number, maxNewTokens: number): number[] {
  const maxLen = blockSize - maxNewTokens;
  if (maxLen < 2) {
    throw new PpoStateError(
      `blockSize (${blockSize}) leaves no room for BOS and a prompt after maxNewTokens (${maxNewTokens}); ` +
        `lower ppo.generation.maxNewTokens to at most ${blockSize - 2}`,
      'ppo.generation.maxNewTokens',
    );
  }
  return encodePrompt(tok, prompt, maxLen);
}

/** One batch of rollouts: query and response ids per row and the reward for each row. */
export interface ScoredRollout {
  /** `[BOS] prompt` ids per row. */
  queries: number[][];
  /** Generated ids per row, including EOS when emitted; never empty. */
  responses: number[][];
  endedWithEos: boolean[];
  /** Reward-model scores (normalised scale), `missingEosPenalty` applied. */
  scores: number[];
}

export interface RolloutDeps {
  policy: GptModel;
  reward: RewardModel;
  tokenizer: Tokenizer;
  prompts: readonly string[];
  generation: GenerationConfig;
  blockSize: number;
  missingEosPenalty: number | null;
}

/**
 * Phase 1: sample responses from the policy (adapters on) for the given prompt indices,
 * giving the event loop a turn after every token (ml/sampling `generateYielding`) so the
 * worker keeps heartbeating through a long rollout.
 */
export async function sampleResponses(deps: RolloutDeps, promptIndices: number[], rng: Rng): Promise<Omit<ScoredRollout, 'scores'>> {
  const { tokenizer: tok, generation } = deps;
  const queries = promptIndices.map((i) => rolloutPromptIds(tok, deps.prompts[i], deps.blockSize, generation.maxNewTokens));
  const { responses, endedWithEos } = await generateYielding(
    deps.policy,
    queries,
    { ...generation, eosId: tok.eosId, padId: tok.padId, adapters: true },
    rng,
  );
  return { queries, responses, endedWithEos };
}

/** Text of a response for the reward model: the generated bytes (the tokenizer drops EOS). */
export function responseText(tok: Tokenizer, response: readonly number[]): string {
  return tok.decode(response);
}

/**
 * Phase 2: reward-model scores on the normalised scale. A response that never emitted EOS
 * gets `missingEosPenalty` instead (TRL's `missing_eos_penalty`), which stops the policy
 * from learning to ramble to the length limit.
 */
export function scoreResponses(
  deps: Pick<RolloutDeps, 'reward' | 'tokenizer' | 'prompts' | 'missingEosPenalty'>,
  promptIndices: number[],
  sampled: Omit<ScoredRollout, 'scores'>,
): number[] {
  const pairs = promptIndices.map((pi, row) => ({
    prompt: deps.prompts[pi],
    response: responseText(deps.tokenizer, sampled.responses[row]),
  }));
  const raw = deps.reward.score(deps.tokenizer, pairs);
  return raw.map((s, row) =>
    deps.missingEosPenalty !== null && !sampled.endedWithEos[row] ? deps.missingEosPenalty : s,
  );
}

/** Phases 1-2 together: the next prompts, their sampled responses and scores. */
export async function rollout(deps: RolloutDeps, cursor: PromptCursor, batchSize: number, rng: Rng): Promise<ScoredRollout> {
  const promptIndices = cursor.take(batchSize, rng);
  const sampled = await sampleResponses(deps, promptIndices, rng);
  if (sampled.responses.some((r) => r.length === 0)) {
    throw new PpoStateError('generate() returned an empty response; maxNewTokens must be at least 1', 'ppo.generation.maxNewTokens');
  }
  return { ...sampled, scores: scoreResponses(deps, promptIndices, sampled) };
}
