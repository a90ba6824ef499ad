/**
 * Attribution of feedback to the policy version that wrote the response (issue 13). A row may
 * name the serving request (`requestId`, from serve/'s generate answer) and/or the version. A
 * request must exist, be this agent's and this project's (one answer for "no such request" and
 * "someone else's": the answer reveals nothing), and be at most ATTRIBUTION_MAX_AGE_MS old; the
 * row then takes the request's version, and a `policyVersion` that disagrees is refused. A
 * version named alone must be one of the agent's. A refusal is a 422 naming the field: the body
 * is well-formed, what it refers to is not acceptable.
 */
import type { Repositories } from '../db/repositories';
import { HttpError } from './errors';
import type { FeedbackItem } from './schemas/feedback';

/** Ratings arrive hours or days after the answer; a month bounds how long a request id stays redeemable. */
export const ATTRIBUTION_MAX_AGE_MS = 30 * 24 * 3600 * 1000;

export class AttributionError extends HttpError {
  override readonly name = 'AttributionError';
  constructor(code: string, message: string, field: string) {
    super(422, code, message, field);
  }
}

export interface Attribution {
  policyVersion: string | null;
  requestId: string | null;
}

/**
 * The attribution of each item, in order; throws AttributionError naming `fieldOf(i, field)`.
 * `now` is the write's time (the age check).
 */
export async function attributeItems(
  repos: Repositories,
  scope: { projectId: string; agentId: string },
  items: readonly FeedbackItem[],
  fieldOf: (index: number, field: string) => string,
  now: Date = new Date(),
): Promise<Attribution[]> {
  if (items.every((i) => i.requestId === undefined && i.policyVersion === undefined)) return items.map(() => ({ policyVersion: null, requestId: null }));
  const named = [...new Set(items.flatMap((i) => (i.policyVersion !== undefined && i.requestId === undefined ? [i.policyVersion] : [])))];
  const versions = await repos.policyVersions.existingVersions(scope.agentId, named);
  const requests = await repos.generationRequests.getMany(items.flatMap((i) => (i.requestId !== undefined ? [i.requestId] : [])));
  const out: Attribution[] = [];
  for (const [index, item] of items.entries()) {
    if (item.requestId === undefined) {
      if (item.policyVersion !== undefined && !versions.has(item.policyVersion)) {
        throw new AttributionError('unknown_version', `agent ${scope.agentId} has no policy version ${item.policyVersion}`, fieldOf(index, 'policyVersion'));
      }
      out.push({ policyVersion: item.policyVersion ?? null, requestId: null });
      continue;
    }
    const request = requests.get(item.requestId);
    const field = fieldOf(index, 'requestId');
    if (!request || request.agentId !== scope.agentId || request.projectId !== scope.projectId) {
      throw new AttributionError('unknown_request', `no generate request ${item.requestId} of agent ${scope.agentId}`, field);
    }
    if (now.getTime() - request.createdAt.getTime() > ATTRIBUTION_MAX_AGE_MS) {
      throw new AttributionError('request_too_old', `generate request ${item.requestId} is older than ${ATTRIBUTION_MAX_AGE_MS / 86_400_000} days`, field);
    }
    if (item.policyVersion !== undefined && item.policyVersion !== request.version) {
      throw new AttributionError(
        'policy_version_mismatch',
        `generate request ${item.requestId} was answered by ${request.version}, not ${item.policyVersion}`,
        fieldOf(index, 'policyVersion'),
      );
    }
    out.push({ policyVersion: request.version, requestId: request.id });
  }
  return out;
}
