/**
 * What a deployment may be, and how promote and rollback derive the next one (issue 13).
 * A deployment names 1..MAX_VARIANTS distinct versions of the agent whose weights sum to 1.
 * Rollback undoes the newest change, restoring the deployment before it (as `kubectl rollout
 * undo` does: a second rollback undoes the first). A body the schema accepts but these rules refuse
 * is a 422 naming the field (the schema's own refusals are 400s).
 */
import type { DeploymentChange, DeploymentSticky, DeploymentVariant } from '../db/entities';
import type { NewDeployment } from '../db/repositories';
import { HttpError } from './errors';

export const MAX_VARIANTS = 8;
/** Weights are decimals a client typed (0.9 + 0.1 is 0.9999999999999999 in doubles). */
export const WEIGHT_SUM_TOLERANCE = 1e-6;

export class DeploymentRuleError extends HttpError {
  override readonly name = 'DeploymentRuleError';
  constructor(statusCode: 409 | 422, code: string, message: string, field?: string) {
    super(statusCode, code, message, field);
  }
}

/** Distinct versions, weights summing to 1; the schema has already bounded count and range. */
export function checkVariants(variants: readonly DeploymentVariant[]): void {
  const seen = new Map<string, number>();
  variants.forEach((v, i) => {
    const first = seen.get(v.version);
    if (first !== undefined) {
      throw new DeploymentRuleError(422, 'duplicate_version', `version ${v.version} appears twice (variants ${first} and ${i})`, `variants.${i}.version`);
    }
    seen.set(v.version, i);
  });
  const sum = variants.reduce((s, v) => s + v.weight, 0);
  if (Math.abs(sum - 1) > WEIGHT_SUM_TOLERANCE) {
    throw new DeploymentRuleError(422, 'weights_do_not_sum_to_one', `the variants' weights sum to ${sum}, not 1`, 'variants');
  }
}

/** Refuses the first variant whose version the agent does not have. */
export function checkVersionsExist(variants: readonly DeploymentVariant[], existing: ReadonlySet<string>, agentId: string): void {
  variants.forEach((v, i) => {
    if (!existing.has(v.version)) {
      throw new DeploymentRuleError(422, 'unknown_version', `agent ${agentId} has no policy version ${v.version}`, `variants.${i}.version`);
    }
  });
}

/** Promote: all traffic to `version`, keeping the current stickiness. */
export function promoted(version: string, current: DeploymentChange | undefined): NewDeployment {
  return { variants: [{ version, weight: 1 }], sticky: current?.sticky ?? null };
}

/** Rollback: the deployment before the newest change; 409 when there is none. */
export function rolledBack(newest: readonly DeploymentChange[], agentId: string): NewDeployment {
  const previous = newest[1];
  if (!previous) throw new DeploymentRuleError(409, 'nothing_to_roll_back', `agent ${agentId} has no earlier deployment to roll back to`, 'agentId');
  return { variants: previous.variants, sticky: previous.sticky as DeploymentSticky };
}
