/**
 * The run event stream's contract (GET /api/runs/:runId/events): the event kinds and the data
 * each carries. Dependency-free, so the activities that record events, the API that serves
 * them and the clients (run page, CLI) share one definition. Adding a kind is one line in
 * RunEventKinds plus its data type in RunEventData.
 */
import type { GuardrailEvent } from './guardrails';
import type { RunPhase, UpdateMetrics } from './names';

/** Event kinds, in the SSE `event:` field. */
export const RunEventKinds = {
  /** The run entered a phase (RunPhases). */
  phase: 'phase',
  /** The run record's status changed (TrainingRunStatuses: running, paused, ...). */
  status: 'status',
  /** The reward model's validation metrics and the quality gate's threshold. */
  rewardModel: 'reward_model',
  /** One PPO update: its metrics and a few sampled completions. */
  update: 'update',
  /** A verified checkpoint was written. */
  checkpoint: 'checkpoint',
  /** A checkpoint was refused on resume (corrupt or torn) and an older one used instead. */
  recovery: 'recovery',
  /** A PPO guardrail tripped: the update was discarded and the run rolled back, with a remedy (common/guardrails). */
  guardrail: 'guardrail',
  /** The run's before/after evaluation block, once the run has one. */
  evaluation: 'evaluation',
  /** The run finished (completed, failed or cancelled); the last event of a stream. */
  end: 'end',
} as const;
export type RunEventKind = (typeof RunEventKinds)[keyof typeof RunEventKinds];

/** Sampled completions an update keeps (the first rows of its rollout batch). */
export const SAMPLES_PER_UPDATE = 4;

/** One sampled completion of a PPO update's rollout. */
export interface UpdateSample {
  prompt: string;
  response: string;
  /** Reward-model score (normalised scale, missing-EOS penalty applied), as PPO saw it. */
  score: number;
}

export interface UpdateEventData {
  update: number;
  /** The run's total PPO updates. */
  total: number;
  metrics: UpdateMetrics;
  samples: UpdateSample[];
}

/** The data of each kind (JSON in the SSE `data:` field, inside a RunEvent envelope). */
export interface RunEventData {
  phase: { phase: RunPhase };
  status: { status: string; error: string | null };
  reward_model: { valMse: number; valMae: number; valPearson: number; valSpearman: number; minValPearson: number; passed: boolean };
  update: UpdateEventData;
  checkpoint: { update: number; ref: string };
  recovery: { rejectedUpdate: number; resumedFromUpdate: number };
  guardrail: GuardrailEvent;
  evaluation: Record<string, unknown>;
  end: { status: string; error: string | null };
}

/** One event as served: `id` is its per-run sequence number (1, 2, ...; the SSE `id:` field). */
export interface RunEvent<K extends RunEventKind = RunEventKind> {
  id: number;
  runId: string;
  kind: K;
  at: string;
  data: RunEventData[K];
}
