/**
 * The PPO chunk activity: run `updates` PPO updates from the last checkpoint, writing a
 * verified checkpoint every `checkpointEvery` updates (and at the chunk's end) and
 * heartbeating `{update, checkpointRef}` after each.
 *
 * Where it starts:
 *   the furthest of: the heartbeat details of a previous attempt of this same activity (a
 *   retry); `from`, the checkpoint the workflow last recorded; the newest verified checkpoint
 *   of the run up to the chunk's end (heartbeats lag; a workflow may have lost its state),
 *   skipping, and logging, any corrupt one and falling back to the next; else a fresh
 *   trainer on the SFT policy (only when there is no `from`).
 * The chunk's end is fixed by its input (`from.update + updates`), never by where a retry
 * resumed, so a retried attempt stops exactly where the first would have.
 * When the start is the checkpoint this process's previous chunk of the run wrote last, the
 * trainer that wrote it continues, after checking that checkpoint against its state
 * (trainer-cache.ts); otherwise everything is opened from the store.
 */
import { Context, CancelledFailure } from '@temporalio/activity';
import { log as temporalLog } from '@temporalio/activity';
import { MetricKeys, RunPhases, type UpdateMetrics } from '../common/names';
import { findLatestVerified, pruneCheckpoints, readCheckpoint, updateOfCheckpointDir, writeCheckpoint } from '../ml/checkpoint';
import type { RunConfig } from '../spec/run-config';
import type { FeedbackExample } from '../spec/train-val-split';
import { loadPolicy } from '../ml/policy-export';
import type { PpoCheckpoint } from '../ml/ppo-state';
import { PpoTrainer } from '../ml/ppo-trainer';
import type { GptModel } from '../ml/model';
import { loadRewardModel, type RewardModel } from '../ml/reward-model';
import type { Tokenizer } from '../ml/tokenizer';
import type { CheckpointInfo, CheckpointRecovery, GuardrailSummary, PpoHeartbeat, SetKlArgs } from '../contract/run-contract';
import { runArtifacts } from '../storage/artifact-keys';
import { ACTIVITY_DEFAULTS, type ActivityDeps, type ActivityLogger } from './deps';
import { classified, missingArtifact } from './errors';
import { heartbeatTickMs, withHeartbeatTicker } from './heartbeat';
import { PpoGuard, type GuardedStep } from './ppo-guard';
import { readJsonl } from './jsonl';
import { NO_RUN_EVENTS } from './run-events';
import { artifactIdentity, sameCheckpoint, TrainerCache } from './trainer-cache';

export interface PpoChunkInput {
  runId: string;
  configRef: string;
  rewardModelRef: string;
  /** SFT-initialised policy: the frozen weights every checkpoint of the run builds on. */
  policyInitRef: string;
  /** Training rows; their prompts are PPO's prompt set. */
  trainRef: string;
  /** Checkpoint the workflow last recorded (null before the first chunk). */
  from: CheckpointInfo | null;
  updates: number;
  /** KL overrides requested by a `setKl` signal since the previous chunk. */
  kl: SetKlArgs;
}

export interface PpoChunkOutput {
  checkpoint: CheckpointInfo;
  /** Checkpoints this attempt refused (corrupt or torn) before it found one that restores. */
  recoveries: CheckpointRecovery[];
  /** Metrics of the chunk's last update. */
  metrics: UpdateMetrics;
  klCoef: number;
  klTarget: number;
  /** Guardrail trips of the run so far (cumulative); absent while there are none. */
  guardrails?: GuardrailSummary;
}

/** One PPO update without the guard (guard.enabled false): a non-finite metric fails the chunk as before. */
async function unguardedStep(trainer: PpoTrainer): Promise<GuardedStep> {
  const update = trainer.updatesDone + 1;
  return { update, metrics: await trainer.step(), trip: null };
}


/** Heartbeat details for the last checkpoint written (undefined before the first). */
function heartbeatOf(last: CheckpointInfo | null): PpoHeartbeat | undefined {
  return last ? { update: last.update, checkpointRef: last.ref } : undefined;
}

/** Errors that mean "this checkpoint cannot be read": try an older start instead. */
const UNUSABLE_CHECKPOINT_ERRORS = new Set(['CheckpointCorruptError', 'CheckpointNotFoundError']);

/** Where a chunk starts: a checkpoint (ref + update) or nothing (a fresh trainer). */
type StartPoint = CheckpointInfo | null;

/** How a chunk got its trainer: this process's live one, restored from a checkpoint, or new. */
type OpenedFrom = 'live trainer' | 'checkpoint' | 'fresh';

/** The artifact refs a trainer is built from. */
type TrainerInput = Omit<PpoChunkInput, 'from' | 'updates' | 'kl'>;

export interface TrainerContext {
  config: RunConfig;
  trainer: PpoTrainer;
  policy: GptModel;
  reward: RewardModel;
  tokenizer: Tokenizer;
  /** Frees the trainer and the models it holds. */
  dispose(): void;
}

/** The PPO activity and the trainer loader the policy export shares. */
export function createPpoRuntime(deps: ActivityDeps) {
  const { store } = deps;
  const logger = (): ActivityLogger => deps.log ?? temporalLog;
  const every = deps.checkpointEvery ?? ACTIVITY_DEFAULTS.checkpointEvery;
  const keepCheckpoints = deps.keepCheckpoints ?? ACTIVITY_DEFAULTS.keepCheckpoints;
  const events = deps.runEvents ?? NO_RUN_EVENTS;
  const cache = new TrainerCache<TrainerContext>(deps.trainerCacheSize ?? ACTIVITY_DEFAULTS.trainerCacheSize);

  /** Builds the trainer for `input`, restored from `start` when given. */
  async function openTrainer(input: TrainerInput, start: StartPoint): Promise<TrainerContext> {
    const config = await store.readJson<RunConfig>(input.configRef);
    const prompts = (await readJsonl<FeedbackExample>(store, input.trainRef)).map((r) => r.prompt);
    const { policy, tokenizer } = await loadPolicy(store.resolve(input.policyInitRef));
    const { model: reward } = await loadRewardModel(store.resolve(input.rewardModelRef));
    const opts = { config, policy, reward, tokenizer, prompts, seed: config.seed };
    try {
      const trainer = start ? PpoTrainer.restore(opts, (await readCheckpoint(store.resolve(start.ref))) as PpoCheckpoint) : PpoTrainer.create(opts);
      return {
        config,
        trainer,
        policy,
        reward,
        tokenizer,
        dispose: () => {
          trainer.dispose();
          policy.dispose();
          reward.dispose();
        },
      };
    } catch (err) {
      policy.dispose();
      reward.dispose();
      throw err;
    }
  }

  /** The newest checkpoint of the run whose hashes verify, or null. */
  async function newestVerified(runId: string, rejected: Set<number>): Promise<StartPoint> {
    const root = runArtifacts.checkpoints(runId);
    if (!(await store.exists(root))) return null;
    const found = await findLatestVerified(store.resolve(root), {
      onSkip: (dir, reason) => {
        logger().warn('skipping corrupt checkpoint', { dir, reason });
        const update = updateOfCheckpointDir(dir);
        if (update !== null) rejected.add(update);
      },
    });
    return found ? { ref: runArtifacts.checkpoint(runId, found.update), update: found.update } : null;
  }

  /**
   * Start candidates, furthest first (see the module comment). Heartbeats reach the server at
   * most every 0.8 × heartbeatTimeout (SDK throttling), so after a crash the details can lag
   * the newest checkpoint on disk by several updates; the newest verified checkpoint of the
   * run (within this chunk's end) is therefore always a candidate, which bounds the redone
   * work to one checkpoint interval. An older one is the fallback when `from` is corrupt.
   */
  async function startCandidates(input: PpoChunkInput, end: number, rejected: Set<number>): Promise<CheckpointInfo[]> {
    const details = Context.current().info.heartbeatDetails as PpoHeartbeat | undefined;
    const candidates: CheckpointInfo[] = [];
    if (details && details.update <= end) candidates.push({ ref: details.checkpointRef, update: details.update });
    if (input.from) candidates.push(input.from);
    const newest = await newestVerified(input.runId, rejected);
    if (newest && newest.update <= end) candidates.push(newest);
    const unique = candidates.filter((c, i) => candidates.findIndex((o) => o.ref === c.ref) === i);
    return unique.sort((a, b) => b.update - a.update);
  }

  /** What a trainer for `input` is built from: its refs and the artifacts' identity on disk. */
  async function inputsOf(input: TrainerInput): Promise<string> {
    const refs = [input.configRef, input.trainRef, input.policyInitRef, input.rewardModelRef];
    return artifactIdentity(refs.map((r) => store.resolve(r)));
  }

  /**
   * This process's live trainer for `input` when its state is exactly checkpoint `at` as it
   * verifies on disk now; else null (a stale or differing entry is disposed). A checkpoint
   * that does not verify is left to the caller, which reports and skips it as usual.
   */
  async function takeLive(input: TrainerInput, at: CheckpointInfo): Promise<TrainerContext | null> {
    if (cache.capacity === 0) return null;
    // An input that cannot be looked at is a miss: opening it from the store reports it properly.
    const inputs = await inputsOf(input).catch(() => null);
    if (inputs === null) {
      cache.evict(input.runId);
      return null;
    }
    const live = cache.take(input.runId, inputs, at);
    if (!live) return null;
    try {
      const disk = await readCheckpoint(store.resolve(at.ref));
      if (sameCheckpoint(live.trainer.toCheckpoint(), disk)) return live;
      logger().warn('checkpoint differs from the live trainer that wrote it; restoring from disk', { ref: at.ref });
    } catch (err) {
      if (!(err instanceof Error) || !UNUSABLE_CHECKPOINT_ERRORS.has(err.name)) {
        live.dispose();
        throw err;
      }
    }
    live.dispose();
    return null;
  }

  /** The trainer at checkpoint `at`: this process's live one when it matches, else restored from disk. */
  async function openAt(input: TrainerInput, at: CheckpointInfo): Promise<{ opened: TrainerContext; from: OpenedFrom }> {
    const live = await takeLive(input, at);
    return live ? { opened: live, from: 'live trainer' } : { opened: await openTrainer(input, at), from: 'checkpoint' };
  }

  /** Opens the first candidate that restores (a corrupt one is logged and skipped); returns it with its start. */
  async function openFirstUsable(
    input: PpoChunkInput,
    end: number,
  ): Promise<{ opened: TrainerContext; start: StartPoint; recoveries: CheckpointRecovery[]; from: OpenedFrom }> {
    const rejected = new Set<number>();
    const recoveriesTo = (resumedFromUpdate: number): CheckpointRecovery[] =>
      [...rejected].filter((u) => u > resumedFromUpdate).sort((a, b) => a - b).map((rejectedUpdate) => ({ rejectedUpdate, resumedFromUpdate }));
    for (const start of await startCandidates(input, end, rejected)) {
      try {
        const { opened, from } = await openAt(input, start);
        if (from === 'checkpoint') logger().info('ppo chunk resuming', { runId: input.runId, fromUpdate: start.update, ref: start.ref });
        return { opened, start, recoveries: recoveriesTo(start.update), from };
      } catch (err) {
        if (!(err instanceof Error) || !UNUSABLE_CHECKPOINT_ERRORS.has(err.name)) throw err;
        logger().warn('checkpoint unusable, trying an older start', { ref: start.ref, error: err.message });
        rejected.add(start.update);
      }
    }
    if (input.from) throw missingArtifact(`checkpoint ${input.from.ref} (update ${input.from.update}) cannot be restored`);
    return { opened: await openTrainer(input, null), start: null, recoveries: recoveriesTo(0), from: 'fresh' };
  }

  /** After a chunk: keeps its trainer for the run's next chunk when it succeeded (at `at`), else frees it. */
  async function keepOrDispose(input: TrainerInput, at: CheckpointInfo | null, opened: TrainerContext): Promise<void> {
    if (!at || cache.capacity === 0) return opened.dispose();
    try {
      cache.put(input.runId, await inputsOf(input), at, opened);
    } catch (err) {
      // Not keeping it costs the next chunk a reload, nothing more; the chunk itself succeeded.
      opened.dispose();
      logger().warn('live trainer not kept', { runId: input.runId, error: (err as Error).message });
    }
  }

  /** One update to the worker's training gauges, when it has them. */
  function reportUpdate(runId: string, config: RunConfig, update: number, metrics: UpdateMetrics): void {
    if (!deps.trainingMetrics) return;
    const seconds = metrics[MetricKeys.timeTotal];
    const tokens = config.ppo.batchSize * metrics[MetricKeys.responseLength];
    deps.trainingMetrics.updateDone({ runId, update, totalUpdates: config.ppo.totalUpdates, metrics, tokensPerSecond: seconds > 0 ? tokens / seconds : 0 });
  }

  async function saveCheckpoint(runId: string, trainer: PpoTrainer): Promise<CheckpointInfo> {
    const update = trainer.updatesDone;
    const ref = runArtifacts.checkpoint(runId, update);
    await writeCheckpoint(store.resolve(ref), trainer.toCheckpoint());
    return { ref, update };
  }

  async function ppoChunk(input: PpoChunkInput): Promise<PpoChunkOutput> {
    return classified(async () => {
      const activity = Context.current();
      const tickMs = heartbeatTickMs(deps.heartbeatTickMs);
      const end = (input.from?.update ?? 0) + input.updates;
      const openStarted = performance.now();
      // Opening a large base and its checkpoint takes seconds: keep re-sending the previous attempt's details meanwhile.
      const first = await withHeartbeatTicker(() => activity.info.heartbeatDetails, () => openFirstUsable(input, end), tickMs);
      const { start, recoveries, from } = first;
      let opened = first.opened;
      logger().info('ppo chunk opened', { runId: input.runId, fromUpdate: start?.update ?? 0, from, openMs: performance.now() - openStarted });
      await events.phase(input.runId, RunPhases.ppo);
      await events.recoveries(input.runId, recoveries);
      let kept: CheckpointInfo | null = null;
      try {
        const guard = opened.config.guard.enabled ? await PpoGuard.open(store, input.runId, opened.config, start) : null;
        if (guard) opened.trainer.setRemedies(guard.remedies);
        // Only at the chunk's own start: a retry resumed mid-chunk already has the overrides
        // (and the controller's adaptation since) in its checkpoint; one that fell back to an
        // older checkpoint replays up to the chunk's start first.
        const chunkStart = input.from?.update ?? 0;
        const hasKl = input.kl.coef !== undefined || input.kl.target !== undefined;
        let klPending = hasKl && opened.trainer.updatesDone <= chunkStart;
        let last: CheckpointInfo | null = start;
        let metrics: UpdateMetrics | null = null;
        while (opened.trainer.updatesDone < end) {
          const trainer = opened.trainer;
          if (klPending && trainer.updatesDone === chunkStart) {
            trainer.setKl(input.kl);
            klPending = false;
          }
          const beat = heartbeatOf(last);
          const step = await withHeartbeatTicker(() => beat, () => (guard ? guard.step(trainer, trainer.klTarget) : unguardedStep(trainer)), tickMs);
          if (guard && step.trip) {
            // Back to the last healthy checkpoint (every checkpoint of a guarded run passed the check), remedy applied.
            const remedies = guard.trip({ ...step, trip: step.trip }, last, trainer.klCoef);
            opened.dispose();
            const back = last;
            // Reopening takes seconds on a loaded machine: keep heartbeating meanwhile.
            opened = await withHeartbeatTicker(() => beat, async () => (back ? (await openAt(input, back)).opened : await openTrainer(input, null)), tickMs);
            // The operator's setKl belongs at the chunk's start: redo it when the rollback went back there or before.
            klPending = hasKl && opened.trainer.updatesDone <= chunkStart;
            if (klPending && opened.trainer.updatesDone === chunkStart) {
              opened.trainer.setKl(input.kl);
              klPending = false;
            }
            const event = await guard.resume(opened.trainer, remedies);
            logger().warn('ppo guardrail tripped; rolled back', { runId: input.runId, ...event });
            await events.guardrail(input.runId, event);
            continue;
          }
          metrics = step.metrics as UpdateMetrics;
          guard?.accept(step.update, metrics);
          const done = trainer.updatesDone;
          // Training history, one JSON per update (also what a finished retry returns).
          await store.writeJson(runArtifacts.metrics(input.runId, done), metrics);
          // The same metrics, and a few completions, for the API's history and event stream.
          await events.update(input.runId, { update: done, total: opened.config.ppo.totalUpdates, metrics, samples: trainer.lastSamples });
          reportUpdate(input.runId, opened.config, done, metrics);
          if (done === end || done % every === 0 || activity.cancellationSignal.aborted) {
            await guard?.writeState(done);
            last = await saveCheckpoint(input.runId, trainer);
            await events.checkpoint(input.runId, last);
            activity.heartbeat(heartbeatOf(last));
          } else {
            activity.heartbeat(heartbeatOf(last));
          }
          // The heartbeat above is what delivers a cancel; the checkpoint is already on disk.
          if (activity.cancellationSignal.aborted) throw new CancelledFailure('ppo chunk cancelled');
        }
        const trainer = opened.trainer;
        if (!last || last.update !== end) {
          await guard?.writeState(trainer.updatesDone);
          last = await saveCheckpoint(input.runId, trainer);
          await events.checkpoint(input.runId, last);
        }
        // Retention (issue 17): the next chunk starts from `last`, the newest; older checkpoints
        // beyond the newest `keepCheckpoints` that verify are deleted, so a long run's disk use is
        // bounded by one chunk's checkpoints plus those.
        const pruned = await pruneCheckpoints(store.resolve(runArtifacts.checkpoints(input.runId)), keepCheckpoints);
        if (pruned.length > 0) logger().info('pruned old checkpoints', { runId: input.runId, count: pruned.length, kept: keepCheckpoints });
        if (end >= opened.config.ppo.totalUpdates) deps.trainingMetrics?.runEnded(input.runId);
        const guardrails = guard?.summary;
        const output = {
          checkpoint: last,
          recoveries,
          metrics: metrics ?? (await lastMetrics(last, input.runId)),
          klCoef: trainer.klCoef,
          klTarget: trainer.klTarget,
          ...(guardrails ? { guardrails } : {}),
        };
        kept = last;
        return output;
      } finally {
        // Kept only after a chunk that succeeded, at the checkpoint it returns; any failure frees it.
        await keepOrDispose(input, kept, opened);
      }
    }).catch((err: unknown) => {
      cache.evict(input.runId); // a failed attempt keeps nothing of its run in memory
      deps.trainingMetrics?.runEnded(input.runId); // a retry reports again from its first update
      throw err;
    });
  }

  /** Metrics of a chunk that had nothing left to do (a retry after its last update). */
  async function lastMetrics(at: CheckpointInfo, runId: string): Promise<UpdateMetrics> {
    const key = runArtifacts.metrics(runId, at.update);
    if (!(await store.exists(key))) throw missingArtifact(`no metrics recorded for update ${at.update}`);
    return store.readJson<UpdateMetrics>(key);
  }

  return { ppoChunk, openAt };
}
