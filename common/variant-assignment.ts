/**
 * Which variant of a deployment answers a request (issue 13). With a subject (the end user, a
 * session), the choice is a pure function of (agent, subject, weights): sha256 of the two maps
 * the subject to a point u in [0, 1), and the variant is the one whose cumulative weight
 * interval holds u, so one subject sees one version for as long as the weights stay. Changing
 * the weights moves only the subjects whose u crosses a boundary (the usual hash-bucket scheme
 * of feature-flag systems). Without a subject each request draws u at random.
 */
import { createHash, randomInt } from 'node:crypto';

export interface WeightedVariant {
  version: string;
  weight: number;
}

/** 2^48: u takes the hash's first 48 bits (exact in a double; far finer than any weight). */
const UNIT_BITS = 2 ** 48;

/** The subject's point in [0, 1) for this agent (independent across agents: the agent id is hashed in). */
export function subjectPoint(agentId: string, subject: string): number {
  const digest = createHash('sha256').update(agentId).update('\0').update(subject).digest();
  return digest.readUIntBE(0, 6) / UNIT_BITS;
}

/** A uniform point in [0, 1) from the OS's CSPRNG, for requests without a subject. */
export function randomPoint(): number {
  return randomInt(0, 2 ** 47) / 2 ** 47;
}

/** The variant whose cumulative-weight interval holds `u` (variants in their stored order). */
export function variantAt<V extends WeightedVariant>(variants: readonly V[], u: number): V {
  if (variants.length === 0) throw new RangeError('a deployment has at least one variant');
  let total = 0;
  for (const v of variants) total += v.weight;
  // Scaled by the total, so weights that sum to 1 up to rounding never leave u past the last edge.
  let edge = 0;
  for (const v of variants) {
    edge += v.weight / total;
    if (u < edge) return v;
  }
  return variants[variants.length - 1];
}

/** The variant for a request: sticky by `subject` when the deployment says so and one is given. */
export function assignVariant<V extends WeightedVariant>(variants: readonly V[], agentId: string, subject: string | null): V {
  return variantAt(variants, subject !== null ? subjectPoint(agentId, subject) : randomPoint());
}
