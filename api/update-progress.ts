/**
 * Per-update PPO progress. The workflow's `progress` query counts the updates of finished
 * chunks only (its state changes when a chunk activity returns), so on its own the bar moves
 * once per chunk. Every update is recorded in run_update as it completes (activities/ppo-chunk),
 * so the API takes step, latest metrics and speed from there: step/total moves per update and
 * the ETA uses the measured time between recent updates.
 */
import { RunPhases } from '../common/names';
import type { StoredRunUpdate } from '../db/repositories';
import type { RunProgress } from '../contract/run-contract';

/** Recent updates the speed is measured over (as the workflow's ETA_WINDOW_CHUNKS, per update). */
export const SPEED_WINDOW_UPDATES = 8;

/** `progress` moved to the newest recorded update (`recent`: newest first), when that is further on. */
export function withUpdateProgress(progress: RunProgress, recent: readonly StoredRunUpdate[]): RunProgress {
  if (progress.phase !== RunPhases.ppo || recent.length === 0) return progress;
  const newest = recent[0];
  if (newest.update <= progress.step) return progress;
  const step = Math.min(newest.update, progress.total);
  return { ...progress, step, latestMetrics: newest.metrics, etaMs: etaOf(recent, step, progress.total) ?? progress.etaMs };
}

/** Remaining ms at the recent pace (time between the oldest and newest of `recent`), or null with fewer than 2. */
function etaOf(recent: readonly StoredRunUpdate[], step: number, total: number): number | null {
  if (recent.length < 2) return null;
  const oldest = recent[recent.length - 1];
  const updates = recent[0].update - oldest.update;
  if (updates <= 0) return null;
  const msPerUpdate = (recent[0].createdAt.getTime() - oldest.createdAt.getTime()) / updates;
  return Math.max(0, Math.round(msPerUpdate * (total - step)));
}
