/**
 * Epoch-level progress for the reward-model and SFT phases. The workflow's `progress` query counts
 * PPO updates only: each of those two phases is a single activity, and a query (pure, deterministic)
 * cannot see activity heartbeats. Temporal does keep the latest heartbeat details on the pending
 * activity, and those activities heartbeat `{epoch, epochs, …}` after every epoch, so the API reads
 * them from the workflow description and shows `step/total` in epochs instead of a bar stuck at 0/1.
 * The SDK sends heartbeats at most every 0.8 × heartbeatTimeout (8 s for the quick preset; the
 * run's timeout comes from workflows/training-run.ts), so the figure can lag by that much, and a
 * phase shorter than that shows 0/1 throughout.
 */
import { RunPhases } from '../common/names';
import type { EpochHeartbeat, RunProgress } from '../contract/run-contract';


function isEpochHeartbeat(value: unknown): value is EpochHeartbeat {
  const v = value as Partial<EpochHeartbeat> | null;
  return (
    typeof v === 'object' && v !== null &&
    Number.isInteger(v.epoch) && Number.isInteger(v.epochs) && (v.epochs as number) > 0 && (v.epoch as number) >= 0
  );
}

/** `progress` with step/total taken from the phase activity's latest epoch heartbeat, when there is one. */
export function withEpochProgress(progress: RunProgress, heartbeatDetails: readonly unknown[]): RunProgress {
  if (progress.phase !== RunPhases.rewardModel && progress.phase !== RunPhases.sft) return progress;
  const beat = heartbeatDetails.find(isEpochHeartbeat);
  if (!beat) return progress;
  return { ...progress, step: Math.min(beat.epoch + 1, beat.epochs), total: beat.epochs };
}
