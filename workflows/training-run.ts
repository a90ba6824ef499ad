/**
 * The training workflow: feedback rows in, a saved policy version out. Deterministic
 * orchestration only; every side effect is an activity (types imported from activities/).
 *
 * Phases: load feedback → split → reward model → quality gate → SFT warm start (or, with a
 * Hugging Face base, the base as the starting policy) → PPO in checkpointed chunks (pausable,
 * KL adjustable, continue-as-new every N chunks) → evaluation (start vs final policy on held-out
 * prompts; a final policy that does not beat its start is saved with verdict not_improved) → save.
 * On cancellation the run record becomes `cancelled` and the last checkpoint stays; on
 * failure it becomes `failed` with the error, and the failure is rethrown.
 */
import {
  ActivityCancellationType,
  ApplicationFailure,
  CancellationScope,
  condition,
  ContinueAsNew,
  continueAsNew,
  isCancellation,
  patched,
  proxyActivities,
  setHandler,
  upsertMemo,
  upsertSearchAttributes,
  type ActivityOptions,
  type RetryPolicy,
} from '@temporalio/workflow';
import { defineSearchAttributeKey } from '@temporalio/common';
import type { createActivities } from '../activities';
import { RunPhases, SearchAttributeKeys, TaskQueues, type RunPhase } from '../common/names';
import { MAX_RECOVERIES_SHOWN, MAX_GUARDRAIL_EVENTS_SHOWN, NON_RETRYABLE_FAILURE_TYPES, TrainingFailureTypes, type GuardrailEvent, type GuardrailSummary, type RunContinuation, type RunProgress, type SetKlArgs, type TrainPolicyInput, type TrainPolicyResult } from '../contract/run-contract';
import { pauseSignal, progressQuery, resumeSignal, setKlSignal } from './messages';
import { estimateRemainingMs, nextChunkSize } from './progress';
import type { EvaluationReport } from '../common/evaluation-report';

type Activities = ReturnType<typeof createActivities>;

/** patched() id of the evaluation activity between PPO and save (issue 11). */
export const EVALUATION_PHASE_PATCH = 'evaluation-phase';

/** Default PPO chunks per execution before continue-as-new: ~10 history events per chunk. */
export const DEFAULT_CHUNKS_PER_EXECUTION = 20;

const retry: RetryPolicy = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m', nonRetryableErrorTypes: [...NON_RETRYABLE_FAILURE_TYPES] };

/** Data activities: short, I/O-bound, on the CPU queue. */
const dataOptions: ActivityOptions = {
  taskQueue: TaskQueues.cpu,
  startToCloseTimeout: '10m',
  retry: { ...retry, maximumAttempts: 10 },
};

/**
 * Default heartbeatTimeout of the training activities per preset, ms. A killed GPU worker is
 * noticed only when its heartbeat times out, so this is most of the time from a kill to
 * resumed progress (bench/RESULTS.md §3). The worker heartbeats every third of it
 * (activities/heartbeat) whenever the event loop gets a turn, and the ml loops give it one per
 * generated token, minibatch and batch, so the timeout must exceed 1.5 × the longest unit of
 * synchronous work. Longest stretch without a turn in a PPO update, measured on 2 shared cores:
 * quick 0.03-0.07 s at load 4 (0.7 s at load 25); small 0.1-0.3 s (4.7 s at load 25); medium
 * 2.3-3.3 s at load 3 but 8-13 s at load 8 (34 s once at load 25), the reward model scoring
 * the 64-row rollout batch in one forward pass, hence 60 s for medium.
 */
export const TRAINING_HEARTBEAT_TIMEOUT_MS: Readonly<Record<string, number>> = { quick: 10_000, small: 10_000, medium: 60_000 };

/** For a preset the table does not name (the resolveConfig activity rejects it anyway). */
export const DEFAULT_TRAINING_HEARTBEAT_TIMEOUT_MS = 10_000;

/**
 * The default for a run on a Hugging Face base, whatever the preset. On the WASM/CPU backend a
 * GPT-2-small-sized base takes ~6-10 s per row for a LoRA forward + backward (bench/RESULTS.md,
 * hf-base section), so one reward-model batch of 16 or one PPO minibatch of 8 blocks the event
 * loop for 1-2 min. A deployment with a GPU backend lowers it with RLHF_TRAINING_HEARTBEAT_TIMEOUT_S.
 */
export const BASE_MODEL_TRAINING_HEARTBEAT_TIMEOUT_MS = 300_000;

/** The run's training heartbeatTimeout, ms: the input's, else the default for its base or preset. */
export function trainingHeartbeatTimeoutMs(input: Pick<TrainPolicyInput, 'trainingHeartbeatTimeoutMs' | 'baseModelDir' | 'baseModel' | 'preset'>): number {
  const byRun = input.baseModelDir || input.baseModel ? BASE_MODEL_TRAINING_HEARTBEAT_TIMEOUT_MS : (TRAINING_HEARTBEAT_TIMEOUT_MS[input.preset] ?? DEFAULT_TRAINING_HEARTBEAT_TIMEOUT_MS);
  const ms = input.trainingHeartbeatTimeoutMs ?? byRun;
  if (!Number.isInteger(ms) || ms < 1000) {
    throw ApplicationFailure.create({
      type: TrainingFailureTypes.invalidConfig,
      nonRetryable: true,
      message: `trainingHeartbeatTimeoutMs must be a whole number of ms, at least 1000; got ${ms}`,
    });
  }
  return ms;
}

/**
 * Training activities: long, on the GPU queue, heartbeating so a dead worker is noticed
 * within `heartbeatTimeout` and a cancel reaches them. WAIT_CANCELLATION_COMPLETED lets a
 * cancelled chunk finish writing its checkpoint before the run is marked cancelled. The
 * timeout comes from the workflow input (deterministic on replay and across continue-as-new).
 */
function trainingOptions(input: TrainPolicyInput): ActivityOptions {
  return {
    taskQueue: input.taskQueues?.gpu ?? TaskQueues.gpu,
    startToCloseTimeout: '12h',
    heartbeatTimeout: trainingHeartbeatTimeoutMs(input),
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: { ...retry, maximumAttempts: 5 },
  };
}

/** Activity proxies on the run's queues (the defaults, or the input's override). */
function activitiesFor(input: TrainPolicyInput) {
  return {
    data: proxyActivities<Activities>({ ...dataOptions, taskQueue: input.taskQueues?.cpu ?? TaskQueues.cpu }),
    training: proxyActivities<Activities>(trainingOptions(input)),
  };
}
type Proxies = ReturnType<typeof activitiesFor>;

const agentIdKey = defineSearchAttributeKey(SearchAttributeKeys.agentId, 'KEYWORD');
const runPhaseKey = defineSearchAttributeKey(SearchAttributeKeys.runPhase, 'KEYWORD');

/** Mutable workflow state; the progress query reads it and continue-as-new carries it. */
interface RunState {
  acts: Proxies;
  phase: RunPhase;
  error: string | null;
  run: Partial<RunContinuation> & Pick<RunContinuation, 'startedAtMs' | 'chunkTimings' | 'paused' | 'pendingKl'>;
}

export async function trainPolicyWorkflow(input: TrainPolicyInput): Promise<TrainPolicyResult> {
  const state: RunState = {
    acts: activitiesFor(input),
    phase: RunPhases.queued,
    error: null,
    run: input.continuation ?? { startedAtMs: Date.now(), chunkTimings: [], paused: false, pendingKl: null, lastCheckpoint: null },
  };
  installHandlers(input, state);
  upsertSearchAttributes([{ key: agentIdKey, value: input.agentId }]);
  try {
    return await runPhases(input, state);
  } catch (err) {
    if (err instanceof ContinueAsNew) throw err;
    await recordEnd(input, state, err);
    throw err;
  }
}

/** Query and signal handlers, set before anything else so no early message is dropped. */
function installHandlers(input: TrainPolicyInput, state: RunState): void {
  setHandler(progressQuery, () => progressOf(input, state));
  setHandler(pauseSignal, () => {
    state.run.paused = true;
  });
  setHandler(resumeSignal, () => {
    state.run.paused = false;
  });
  setHandler(setKlSignal, (args) => {
    const merged = { ...state.run.pendingKl, ...args };
    state.run.pendingKl = merged;
    // Shown at once so the caller sees the request; confirmed by the next chunk's metrics.
    if (args.coef !== undefined) state.run.klCoef = args.coef;
    if (args.target !== undefined) state.run.klTarget = args.target;
  });
}

function progressOf(input: TrainPolicyInput, state: RunState): RunProgress {
  const run = state.run;
  const inPpo = state.phase === RunPhases.ppo;
  const afterPpo = state.phase === RunPhases.evaluation || state.phase === RunPhases.save || state.phase === RunPhases.completed;
  const done = run.lastCheckpoint?.update ?? 0;
  const total = run.totalUpdates ?? 0;
  return {
    runId: input.runId,
    agentId: input.agentId,
    phase: state.phase,
    paused: run.paused,
    step: inPpo || afterPpo ? done : 0,
    total: inPpo || afterPpo ? total : 1,
    elapsedMs: Date.now() - run.startedAtMs,
    etaMs: inPpo ? estimateRemainingMs(run.chunkTimings, done, total) : state.phase === RunPhases.completed ? 0 : null,
    latestMetrics: run.latestMetrics ?? null,
    lastCheckpoint: run.lastCheckpoint ?? null,
    checkpointRecoveries: run.recoveries ?? [],
    guardrails: run.guardrails ?? null,
    rewardModelPhase: rewardModelPhaseOf(run),
    rewardModel: run.rewardModel ?? null,
    klCoef: run.klCoef ?? null,
    klTarget: run.klTarget ?? null,
    error: state.error,
  };
}

/** The reward_model phase's outcome as progress shows it (issue 14: reuse is visible). */
function rewardModelPhaseOf(run: RunState['run']): string | null {
  if (run.rewardModelReusedFrom) return `${RunPhases.rewardModel} (reused from run ${run.rewardModelReusedFrom})`;
  return run.rewardModelRef ? `${RunPhases.rewardModel} (trained)` : null;
}

function enterPhase(state: RunState, phase: RunPhase): void {
  state.phase = phase;
  upsertSearchAttributes([{ key: runPhaseKey, value: phase }]);
}

async function runPhases(input: TrainPolicyInput, state: RunState): Promise<TrainPolicyResult> {
  if (!input.continuation) await prepare(input, state);
  const run = state.run as RunContinuation;
  enterPhase(state, RunPhases.ppo);
  const continued = await ppoChunks(input, state, run);
  if (continued) return continued;
  // The evaluation phase (issue 11) came after histories were recorded: patched() keeps those replaying.
  let evaluation: EvaluationReport | undefined;
  if (patched(EVALUATION_PHASE_PATCH)) {
    enterPhase(state, RunPhases.evaluation);
    evaluation = await state.acts.training.evaluatePolicy({ ...artifactsOf(input, run), checkpoint: requireCheckpoint(run), valRef: run.valRef });
  }
  enterPhase(state, RunPhases.save);
  const exported = await state.acts.training.exportPolicy({ ...artifactsOf(input, run), checkpoint: requireCheckpoint(run), valRef: run.valRef });
  const saved = await state.acts.data.savePolicy({
    runId: input.runId,
    agentId: input.agentId,
    configRef: run.configRef,
    policyRef: exported.policyRef,
    rewardModelRef: run.rewardModelRef,
    dataset: run.dataset,
    trainingSteps: run.totalUpdates,
    rewardModel: run.rewardModel,
    sft: run.sft,
    latestMetrics: run.latestMetrics,
    ...(run.guardrails ? { guardrails: run.guardrails } : {}),
    rewardMean: exported.rewardMean,
    rewardStd: exported.rewardStd,
    ...(evaluation ? { evaluation } : {}),
  });
  await state.acts.data.setRunStatus({ runId: input.runId, status: 'completed' });
  enterPhase(state, RunPhases.completed);
  return {
    status: 'trained',
    runId: input.runId,
    policyId: saved.policyId,
    version: saved.version,
    modelKey: saved.modelKey,
    rewardModelKey: saved.rewardModelKey,
    feedbackCount: run.dataset.feedbackCount,
    trainingSteps: run.totalUpdates,
    rewardMean: saved.rewardMean,
    rewardStd: saved.rewardStd,
    ...(evaluation ? { evaluation } : {}),
  };
}

/** Everything before PPO: config, data, reward model, gate, SFT. Runs in the first execution only. */
async function prepare(input: TrainPolicyInput, state: RunState): Promise<void> {
  const { runId } = input;
  await state.acts.data.setRunStatus({ runId, status: 'running' });
  enterPhase(state, RunPhases.loadFeedback);
  const plan = await state.acts.data.resolveConfig({
    runId,
    preset: input.preset,
    maxSteps: input.maxSteps,
    learningRate: input.learningRate,
    seed: input.seed,
    configPatch: input.configPatch,
    baseModelDir: input.baseModelDir,
    baseModel: input.baseModel,
  });
  Object.assign(state.run, { configRef: plan.configRef, totalUpdates: plan.totalUpdates, updatesPerChunk: plan.updatesPerChunk });
  state.run.klCoef ??= plan.klCoef;
  state.run.klTarget ??= plan.klTarget;
  const feedback = await state.acts.data.loadFeedback({ runId, agentId: input.agentId, ...(input.feedbackVersions ? { versions: input.feedbackVersions } : {}) });

  enterPhase(state, RunPhases.splitDataset);
  const split = await state.acts.data.splitDataset({ runId, datasetRef: feedback.datasetRef, configRef: plan.configRef });
  state.run.dataset = {
    feedbackCount: feedback.count,
    scoreMean: feedback.scoreMean,
    scoreStd: feedback.scoreStd,
    trainCount: split.trainCount,
    valCount: split.valCount,
  };
  state.run.trainRef = split.trainRef;
  state.run.valRef = split.valRef;

  enterPhase(state, RunPhases.rewardModel);
  const reward = await state.acts.training.trainRewardModel({
    runId,
    configRef: plan.configRef,
    trainRef: split.trainRef,
    valRef: split.valRef,
    baseModelDir: input.baseModelDir,
    baseModel: input.baseModel,
    agentId: input.agentId,
    reuse: input.reuseRewardModel !== false,
  });
  state.run.rewardModelRef = reward.rewardModelRef;
  if (reward.reusedFrom) state.run.rewardModelReusedFrom = reward.reusedFrom;
  state.run.rewardModel = reward.metrics;

  enterPhase(state, RunPhases.qualityGate);
  if (!(reward.metrics.valPearson >= plan.minValPearson)) {
    throw ApplicationFailure.create({
      type: TrainingFailureTypes.qualityGateFailed,
      nonRetryable: true,
      message:
        `reward model failed the quality gate: validation Pearson ${reward.metrics.valPearson.toFixed(3)} ` +
        `< threshold ${plan.minValPearson} (valMse ${reward.metrics.valMse.toFixed(3)}); collect more or cleaner feedback`,
      details: [{ valPearson: reward.metrics.valPearson, threshold: plan.minValPearson }],
    });
  }

  if (input.baseModelDir || input.baseModel) {
    // No SFT on a base: SFT exists to teach a fresh byte-level model the language, which a
    // pretrained base already speaks, and ml/sft trains the base weights (adapters off) so
    // its result becomes the reference, whereas on a base the base stays frozen and is the
    // reference. TRL 0.7's PPO, which the seed ran, also starts from the pretrained model.
    const init = await state.acts.training.basePolicyInit({ runId, configRef: plan.configRef, baseModelDir: input.baseModelDir, baseModel: input.baseModel });
    state.run.policyInitRef = init.policyInitRef;
    state.run.sft = null;
    return;
  }
  enterPhase(state, RunPhases.sft);
  const sft = await state.acts.training.sftWarmStart({ runId, configRef: plan.configRef, trainRef: split.trainRef, valRef: split.valRef });
  state.run.policyInitRef = sft.policyInitRef;
  state.run.sft = { finalLoss: sft.finalLoss, steps: sft.steps };
}

/**
 * PPO chunks until the total is reached, pausing between chunks on request. Returns the
 * continue-as-new promise (never resolves) when this execution has run its share of chunks.
 */
async function ppoChunks(input: TrainPolicyInput, state: RunState, run: RunContinuation): Promise<TrainPolicyResult | undefined> {
  const maxChunks = input.chunksPerExecution ?? DEFAULT_CHUNKS_PER_EXECUTION;
  let chunksThisExecution = 0;
  for (;;) {
    const done = run.lastCheckpoint?.update ?? 0;
    const updates = nextChunkSize(done, run.totalUpdates, run.updatesPerChunk);
    if (updates === 0) return undefined;
    if (chunksThisExecution >= maxChunks) {
      // Signal handlers are synchronous, so nothing is in flight; the state carries on.
      return await continueAsNew<typeof trainPolicyWorkflow>({ ...input, continuation: run });
    }
    if (run.paused) await waitWhilePaused(input, state, run);
    const kl = run.pendingKl ?? {};
    run.pendingKl = null;
    const startedAt = Date.now();
    const chunk = await state.acts.training.ppoChunk({ ...artifactsOf(input, run), from: run.lastCheckpoint, updates, kl }).catch((err: unknown) => {
      const tripped = guardrailFailureOf(err);
      if (tripped) recordGuardrails(run, tripped);
      throw err;
    });
    run.chunkTimings.push({ updates: chunk.checkpoint.update - done, durationMs: Date.now() - startedAt });
    run.lastCheckpoint = chunk.checkpoint;
    run.latestMetrics = chunk.metrics;
    if (chunk.guardrails) recordGuardrails(run, chunk.guardrails);
    if (chunk.recoveries?.length) run.recoveries = [...(run.recoveries ?? []), ...chunk.recoveries].slice(-MAX_RECOVERIES_SHOWN);
    // A setKl that arrived during the chunk stays pending and wins over the chunk's values.
    const pending = pendingKlOf(run);
    if (pending?.coef === undefined) run.klCoef = chunk.klCoef;
    if (pending?.target === undefined) run.klTarget = chunk.klTarget;
    chunksThisExecution += 1;
  }
}

/** Patch id of the guardrail memo (issue 14): histories from before it never recorded a trip. */
export const GUARDRAIL_MEMO_PATCH = 'guardrail-memo';

/**
 * Keeps the run's guardrail record (progress shows it; continue-as-new carries it) and, when the
 * trips changed, shows them in the Temporal UI as the `guardrails` memo.
 */
function recordGuardrails(run: RunContinuation, summary: GuardrailSummary): void {
  const before = run.guardrails?.trips ?? 0;
  run.guardrails = { trips: summary.trips, events: summary.events.slice(-MAX_GUARDRAIL_EVENTS_SHOWN) };
  if (summary.trips === before || !patched(GUARDRAIL_MEMO_PATCH)) return;
  const last = summary.events[summary.events.length - 1];
  upsertMemo({ guardrails: { trips: summary.trips, last: last ? { update: last.update, condition: last.condition, rolledBackTo: last.rolledBackTo.update, remedy: last.remedy.kind } : null } });
}

/**
 * The guardrail record in a GuardrailTripped failure (the chunk's details: earlier events, and
 * the trip that ended the run, which rolled back nowhere), or null for any other failure.
 */
function guardrailFailureOf(err: unknown): GuardrailSummary | null {
  const cause = err instanceof Error ? err.cause : undefined;
  if (!(cause instanceof ApplicationFailure) || cause.type !== TrainingFailureTypes.guardrailTripped) return null;
  const detail = cause.details?.[0] as { trips?: number; events?: GuardrailEvent[] } | undefined;
  return detail?.events ? { trips: detail.trips ?? detail.events.length, events: detail.events } : null;
}

/** Read through a call: the signal handler may have set it while the chunk ran. */
function pendingKlOf(run: RunContinuation): SetKlArgs | null {
  return run.pendingKl;
}

/** Pauses between chunks; the run record shows `paused` meanwhile. */
async function waitWhilePaused(input: TrainPolicyInput, state: RunState, run: RunContinuation): Promise<void> {
  await state.acts.data.setRunStatus({ runId: input.runId, status: 'paused' });
  await condition(() => !run.paused);
  await state.acts.data.setRunStatus({ runId: input.runId, status: 'running' });
}

/** The artifact keys every PPO-side activity needs. */
function artifactsOf(input: TrainPolicyInput, run: RunContinuation) {
  return {
    runId: input.runId,
    configRef: run.configRef,
    rewardModelRef: run.rewardModelRef,
    policyInitRef: run.policyInitRef,
    trainRef: run.trainRef,
  };
}

function requireCheckpoint(run: RunContinuation): NonNullable<RunContinuation['lastCheckpoint']> {
  if (!run.lastCheckpoint) {
    throw ApplicationFailure.create({ type: TrainingFailureTypes.missingArtifact, nonRetryable: true, message: 'PPO produced no checkpoint' });
  }
  return run.lastCheckpoint;
}

/** Marks the run record cancelled or failed, in a scope a cancellation cannot interrupt. */
async function recordEnd(input: TrainPolicyInput, state: RunState, err: unknown): Promise<void> {
  const cancelled = isCancellation(err);
  const message = err instanceof Error ? err.message : String(err);
  state.error = cancelled ? null : message;
  await CancellationScope.nonCancellable(async () => {
    enterPhase(state, cancelled ? RunPhases.cancelled : RunPhases.failed);
    await state.acts.data.setRunStatus({ runId: input.runId, status: cancelled ? 'cancelled' : 'failed', error: cancelled ? undefined : describe(err) });
  });
}

/** The innermost cause's message: an ActivityFailure wraps the activity's own error. */
function describe(err: unknown): string {
  let current: unknown = err;
  while (current instanceof Error && current.cause instanceof Error) current = current.cause;
  const inner = current instanceof Error ? current.message : String(current);
  const outer = err instanceof Error ? err.message : String(err);
  return inner === outer ? outer : `${outer}: ${inner}`;
}
