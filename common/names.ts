/**
 * Names that must be spelled the same by every process: Temporal task queues, search
 * attributes, run phases, and the training-metric keys. A typo in a queue name silently
 * creates a second queue that no worker polls, so everything imports these constants.
 */

/** Temporal task queues. */
export const TaskQueues = {
  /** Workflow tasks and the data activities (load, split, save). */
  cpu: 'rlhf-cpu',
  /** Training activities (reward model, SFT, PPO chunks). One at a time per worker. */
  gpu: 'rlhf-gpu',
} as const;
export type TaskQueue = (typeof TaskQueues)[keyof typeof TaskQueues];

/** Custom search attributes registered on the namespace (both Keyword). */
export const SearchAttributeKeys = {
  agentId: 'AgentId',
  runPhase: 'RunPhase',
} as const;

/** Phases of a training run, in order. `RunPhase` search attribute and progress query use these. */
export const RunPhases = {
  queued: 'queued',
  loadFeedback: 'load_feedback',
  splitDataset: 'split_dataset',
  rewardModel: 'reward_model',
  qualityGate: 'quality_gate',
  sft: 'sft',
  ppo: 'ppo',
  evaluation: 'evaluation',
  save: 'save',
  completed: 'completed',
  failed: 'failed',
  cancelled: 'cancelled',
} as const;
export type RunPhase = (typeof RunPhases)[keyof typeof RunPhases];

/** The evaluation phase's verdict on a run's final policy (ml/evaluation.ts). */
export const EvaluationVerdicts = { improved: 'improved', notImproved: 'not_improved' } as const;
export type EvaluationVerdict = (typeof EvaluationVerdicts)[keyof typeof EvaluationVerdicts];

/**
 * Training-metric keys, emitted once per PPO update (TRL's namespacing). The table with
 * their meaning is in docs/metrics.md.
 */
export const MetricKeys = {
  klObjective: 'objective/kl',
  scores: 'objective/scores',
  rlhfReward: 'objective/rlhf_reward',
  nonScoreReward: 'objective/non_score_reward',
  entropy: 'policy/entropy',
  approxKl: 'policy/approxkl',
  clipFrac: 'policy/clipfrac',
  policyLoss: 'loss/policy',
  valueLoss: 'loss/value',
  totalLoss: 'loss/total',
  valueClipFrac: 'val/clipfrac',
  ratio: 'val/ratio',
  ratioVar: 'val/ratio_var',
  skippedMinibatches: 'val/num_skipped_minibatches',
  nonFiniteSkippedSteps: 'optim/skipped_steps',
  epochsRun: 'ppo/epochs_run',
  klCoef: 'ppo/kl_coef',
  learningRate: 'lr',
  responseLength: 'objective/response_length',
  eosRate: 'objective/eos_rate',
  klStdErr: 'objective/kl_stderr',
  timeRollout: 'time/rollout',
  timeUpdate: 'time/update',
  timeTotal: 'time/total',
} as const;
export type MetricKey = (typeof MetricKeys)[keyof typeof MetricKeys];
/** One update's metrics: every key of MetricKeys, a finite number each. */
export type UpdateMetrics = Record<MetricKey, number>;

/**
 * Prometheus metric names, defined once: the API's `/metrics` (api/plugins/app/metrics.ts) and the
 * workers' (worker/metrics.ts) register these; docs/observability.md describes each and its labels.
 * Temporal's own SDK metrics keep their `temporal_` names.
 */
export const PromMetrics = {
  /** API: histogram of request durations, seconds; labels method, route (the pattern, never the URL), status_code. */
  httpRequestDuration: 'rlhf_http_request_duration_seconds',
  /** API: counter of feedback rows written (a replayed request writes none). */
  feedbackRowsWritten: 'rlhf_feedback_rows_written_total',
  /** API: gauge of training runs by status (all projects), read from the database at scrape time. */
  runs: 'rlhf_runs',
  /** API: counter of requests answered from an Idempotency-Key's stored answer; label route. */
  idempotentReplays: 'rlhf_idempotent_replays_total',
  /** Worker: the last PPO update done, per active run (labels run_id, backend), and the others below. */
  trainingUpdate: 'rlhf_training_update',
  trainingTotalUpdates: 'rlhf_training_total_updates',
  trainingTokensPerSecond: 'rlhf_training_tokens_per_second',
  trainingReward: 'rlhf_training_reward',
  trainingKl: 'rlhf_training_kl',
  trainingKlCoef: 'rlhf_training_kl_coef',
} as const;
