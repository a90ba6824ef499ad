/**
 * Pure progress arithmetic for the training workflow: the ETA from measured chunk
 * durations. Kept apart from the workflow body so it is unit-testable without Temporal.
 * All times are workflow time (deterministic `Date.now()` inside a workflow).
 */
import type { ChunkTiming } from '../contract/run-contract';

/** How many of the most recent chunks the ETA averages over; recent speed predicts best. */
export const ETA_WINDOW_CHUNKS = 5;

/**
 * Milliseconds per PPO update, averaged over the last `window` chunks (total time over
 * total updates, so a short final chunk does not skew it). Null before any chunk ran.
 */
export function msPerUpdate(timings: readonly ChunkTiming[], window = ETA_WINDOW_CHUNKS): number | null {
  const recent = timings.slice(-window);
  const updates = recent.reduce((n, t) => n + t.updates, 0);
  if (updates === 0) return null;
  return recent.reduce((ms, t) => ms + t.durationMs, 0) / updates;
}

/**
 * Estimated remaining milliseconds of the PPO phase: remaining updates times the measured
 * speed. Null until one chunk has been measured; 0 when nothing remains.
 */
export function estimateRemainingMs(timings: readonly ChunkTiming[], updatesDone: number, totalUpdates: number): number | null {
  const remaining = Math.max(0, totalUpdates - updatesDone);
  if (remaining === 0) return 0;
  const speed = msPerUpdate(timings);
  return speed === null ? null : Math.round(speed * remaining);
}

/** Size of the next chunk: `updatesPerChunk`, or whatever is left if that is less. */
export function nextChunkSize(updatesDone: number, totalUpdates: number, updatesPerChunk: number): number {
  return Math.max(0, Math.min(updatesPerChunk, totalUpdates - updatesDone));
}
