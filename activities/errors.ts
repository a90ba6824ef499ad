/**
 * Failures the activities throw across the Temporal boundary. Bad data or config becomes a
 * non-retryable ApplicationFailure with a `type` from TrainingFailureTypes (the workflow's
 * retry policy lists them too); anything else (I/O, a crashed worker) stays retryable.
 * Errors from lower layers are recognised by `name`, never by `instanceof`, which breaks
 * across jest realms and Temporal's failure conversion.
 */
import { ApplicationFailure } from '@temporalio/common';
import { TrainingFailureTypes } from '../contract/run-contract';

/** Thrown when the run configuration (preset, overrides or patch) is inconsistent. */
export function invalidConfig(message: string, cause?: Error): ApplicationFailure {
  return ApplicationFailure.create({ type: TrainingFailureTypes.invalidConfig, nonRetryable: true, message, cause });
}

/** Thrown when the feedback rows cannot train anything: too few, or a score that is not finite. */
export function invalidFeedback(message: string, details: Record<string, unknown> = {}): ApplicationFailure {
  return ApplicationFailure.create({ type: TrainingFailureTypes.invalidFeedback, nonRetryable: true, message, details: [details] });
}

/** Thrown when an artifact a step needs (dataset, model, checkpoint) is absent or corrupt. */
export function missingArtifact(message: string, cause?: Error): ApplicationFailure {
  return ApplicationFailure.create({ type: TrainingFailureTypes.missingArtifact, nonRetryable: true, message, cause });
}

/** Thrown when PPO training produced NaN/∞; retrying from the same checkpoint would repeat it. */
export function trainingDiverged(message: string, cause?: Error): ApplicationFailure {
  return ApplicationFailure.create({ type: TrainingFailureTypes.trainingDiverged, nonRetryable: true, message, cause });
}

/**
 * Names of lower-layer errors that mean bad config or bad data: retrying cannot help.
 * ConfigError (spec/run-config), model/weight mismatches (ml/errors), a policy directory in the
 * wrong format (ml/ppo-errors) and a checkpoint whose hashes do not verify.
 */
const CONFIG_ERROR_NAMES = new Set(['ConfigError', 'ModelInputError', 'WeightShapeError', 'PolicyFormatError', 'InvalidArtifactKeyError', 'UnsafeIdError']);
const ARTIFACT_ERROR_NAMES = new Set(['CheckpointCorruptError', 'CheckpointNotFoundError', 'PpoStateError', 'ArtifactNotFoundError', 'ArtifactCorruptError']);
/** PPO is deterministic from a checkpoint, so a non-finite metric would recur on retry. */
const DIVERGED_ERROR_NAMES = new Set(['NonFiniteMetricError']);

/**
 * Converts an error from ml/, storage/ or db/ into the failure the workflow should see:
 * known bad-config/bad-artifact errors become non-retryable, the rest pass through
 * unchanged (Temporal then retries them). A missing file (ENOENT) on a key the workflow
 * handed over is a missing artifact.
 */
export function toActivityFailure(err: unknown): unknown {
  if (err instanceof ApplicationFailure || !(err instanceof Error)) return err;
  if (CONFIG_ERROR_NAMES.has(err.name)) return invalidConfig(`${err.name}: ${err.message}`, err);
  if (ARTIFACT_ERROR_NAMES.has(err.name)) return missingArtifact(`${err.name}: ${err.message}`, err);
  if (DIVERGED_ERROR_NAMES.has(err.name)) return trainingDiverged(`${err.name}: ${err.message}`, err);
  if ((err as NodeJS.ErrnoException).code === 'ENOENT') return missingArtifact(err.message, err);
  return err;
}

/** Runs `fn`, rethrowing its error as `toActivityFailure` classifies it. */
export async function classified<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toActivityFailure(err);
  }
}
