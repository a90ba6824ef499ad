/**
 * Artifact keys: '/'-joined segments relative to the store root, e.g.
 * `runs/run_abc/checkpoints/update-000012` or `agent-1/v3/policy`. A key can never leave the
 * root: every segment is ASCII letters, digits, '.', '_' or '-', starts with a letter or
 * digit (so '.', '..' and hidden temp names are impossible), and ids (agentId, runId,
 * version) must also pass common/ids' SAFE_ID_PATTERN. This rules out traversal, absolute
 * paths, empty segments, NUL, backslashes and every Unicode look-alike (fullwidth solidus,
 * dot leaders, combining marks, RTL overrides).
 *
 * Layout (the seed's `models/{agentId}/{version}/...` plus run-scoped working data):
 *   {agentId}/{version}/policy/, reward_model/, training_results.json
 *   runs/{runId}/dataset/, reward_model/, sft/, checkpoints/update-NNNNNN/
 */
import { assertSafeId } from '../common/ids';
import { InvalidArtifactKeyError } from './errors';

/** One key segment. 128 characters keeps whole paths far below PATH_MAX. */
const SEGMENT_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
/** Directory of run-scoped working data under the root. */
export const RUNS_PREFIX = 'runs';
/** Checkpoint directories are `update-` + the update count zero-padded to this width (sorts by name). */
export const CHECKPOINT_DIGITS = 6;

/** Returns the key's segments, or throws InvalidArtifactKeyError saying what is wrong. */
export function parseArtifactKey(key: unknown): string[] {
  if (typeof key !== 'string') throw new InvalidArtifactKeyError(String(key), 'not a string');
  if (key.length === 0) throw new InvalidArtifactKeyError(key, 'empty');
  if (key.includes('\0')) throw new InvalidArtifactKeyError(key, 'contains NUL');
  if (key.includes('\\')) throw new InvalidArtifactKeyError(key, 'contains a backslash');
  if (key.startsWith('/')) throw new InvalidArtifactKeyError(key, 'absolute');
  // Printable ASCII only: no look-alike of '/' or '.', no bidi controls, no normalisation games.
  if (!/^[\x21-\x7e]+$/.test(key)) throw new InvalidArtifactKeyError(key, 'non-ASCII, control or space character');
  const segments = key.split('/');
  for (const segment of segments) {
    if (segment === '') throw new InvalidArtifactKeyError(key, 'empty segment');
    if (segment === '.' || segment === '..') throw new InvalidArtifactKeyError(key, 'traversal segment');
    if (!SEGMENT_RE.test(segment)) throw new InvalidArtifactKeyError(key, `bad segment ${JSON.stringify(segment)}`);
  }
  return segments;
}

/** Returns the key unchanged when valid. */
export function assertArtifactKey(key: unknown): string {
  parseArtifactKey(key);
  return key as string;
}

/** Joins parts (each itself one or more valid segments) into a validated key. */
export function joinKey(...parts: string[]): string {
  return assertArtifactKey(parts.join('/'));
}

/** `runs/{runId}/...parts`: a run's working data (dataset, reward_model, sft, checkpoints). */
export function runKey(runId: string, ...parts: string[]): string {
  return joinKey(RUNS_PREFIX, assertSafeId(runId, 'runId'), ...parts);
}

/** `{agentId}/{version}/...parts`: a published policy version (policy/, reward_model/, training_results.json). */
export function policyKey(agentId: string, version: string, ...parts: string[]): string {
  return joinKey(assertSafeId(agentId, 'agentId'), assertSafeId(version, 'version'), ...parts);
}

/** `runs/{runId}/checkpoints`: the root that ml/checkpoint's findLatestVerified scans. */
export function checkpointsKey(runId: string): string {
  return runKey(runId, 'checkpoints');
}

/** `runs/{runId}/checkpoints/update-NNNNNN`. */
export function checkpointKey(runId: string, update: number): string {
  if (!Number.isInteger(update) || update < 0) throw new InvalidArtifactKeyError(String(update), 'update must be a non-negative integer');
  return runKey(runId, 'checkpoints', `update-${String(update).padStart(CHECKPOINT_DIGITS, '0')}`);
}

/**
 * `reward-models/{agentId}/{fingerprint}.json`: which run's reward model was trained on exactly
 * these rows with this config (activities/reward-model-reuse.ts). `fingerprint` is hex sha256.
 */
export function rewardModelIndexKey(agentId: string, fingerprint: string): string {
  if (!/^[0-9a-f]{64}$/.test(fingerprint)) throw new RangeError('reward-model fingerprint must be 64 hex digits');
  return joinKey('reward-models', assertSafeId(agentId, 'agentId'), `${fingerprint}.json`);
}

/** Store keys of one run's working data, spelled once (every layer that reads or writes them imports this). */
export const runArtifacts = {
  config: (runId: string) => runKey(runId, 'config.json'),
  /** The run's copies of the feedback rows (deleted once its version is saved, unless kept). */
  datasetDir: (runId: string) => runKey(runId, 'dataset'),
  dataset: (runId: string) => runKey(runId, 'dataset', 'feedback.jsonl'),
  train: (runId: string) => runKey(runId, 'dataset', 'train.jsonl'),
  val: (runId: string) => runKey(runId, 'dataset', 'val.jsonl'),
  rewardModel: (runId: string) => runKey(runId, 'reward_model'),
  sftPolicy: (runId: string) => runKey(runId, 'sft'),
  checkpoints: checkpointsKey,
  checkpoint: checkpointKey,
  metrics: (runId: string, update: number) => runKey(runId, 'metrics', `update-${String(update).padStart(6, '0')}.json`),
  finalPolicy: (runId: string) => runKey(runId, 'policy'),
  evaluation: (runId: string) => runKey(runId, 'evaluation.json'),
  /** The guardrail state (trips, remedies, events) in force at a checkpoint; written just before it. */
  guard: (runId: string, update: number) => runKey(runId, 'guard', `update-${String(update).padStart(6, '0')}.json`),
};
