/**
 * What the fault tests compare between a disturbed run and an uninterrupted one: the
 * exported policy weights (bytes) and the per-update PPO metrics history without the
 * wall-clock `time/*` keys; and what they measure about a crash: which completed updates
 * were computed again, and how long after the kill training progressed again.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { runArtifacts } from '../../storage/artifact-keys';
import type { UpdateMetrics } from '../../common/names';
import { CheckpointFiles } from '../../ml/checkpoint';
import { PolicyFiles } from '../../ml/policy-export';
import { readTrainingResults } from '../../ml/training-results';
import { policyKey, type ArtifactStore } from '../../storage/artifact-store';

/** The saved version's weights file (the exported, LoRA-merged policy tensors). */
export async function policyWeightBytes(store: ArtifactStore, agentId: string, version: string): Promise<Buffer> {
  return fs.readFile(path.join(store.resolve(policyKey(agentId, version, 'policy')), PolicyFiles.weights, CheckpointFiles.tensors));
}

/** Metrics without wall-clock keys: what must be identical between equal runs. */
export function withoutTimings(metrics: UpdateMetrics): Record<string, number> {
  return Object.fromEntries(Object.entries(metrics).filter(([key]) => !key.startsWith('time/')));
}

/** The saved version's PPO history (training_results.json), timings removed. */
export async function savedHistory(store: ArtifactStore, agentId: string, version: string): Promise<Record<string, number>[]> {
  const results = await readTrainingResults(store.resolve(policyKey(agentId, version)));
  return results.ppo.history.map(withoutTimings);
}

/** Modification times (ms) of the run's per-update metrics files, by update. */
export async function metricsMtimes(store: ArtifactStore, runId: string): Promise<Map<number, number>> {
  const dir = store.resolve(path.dirname(runArtifacts.metrics(runId, 0)));
  const out = new Map<number, number>();
  for (const name of await fs.readdir(dir).catch(() => [] as string[])) {
    const match = /^update-(\d+)\.json$/.exec(name);
    if (match) out.set(Number(match[1]), (await fs.stat(path.join(dir, name))).mtimeMs);
  }
  return out;
}

/** Updates whose metrics were written again after `before` was taken: the work a crash cost. */
export function redoneUpdates(before: Map<number, number>, after: Map<number, number>): number[] {
  return [...before.keys()].filter((u) => after.get(u) !== before.get(u)).sort((a, b) => a - b);
}
