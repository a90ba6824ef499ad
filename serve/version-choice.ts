/**
 * Which version answers a generate call: the one the request names; else the agent's deployment
 * (a variant chosen by common/variant-assignment, sticky by `subject` when the deployment is);
 * else, before any deployment, the agent's newest version.
 */
import { NotFoundError } from '../api/errors';
import { assignVariant } from '../common/variant-assignment';
import type { Repositories } from '../db/repositories';

export type VersionSource = 'request' | 'deployment' | 'latest';

export async function chooseVersion(
  repos: Repositories,
  agentId: string,
  requested: string | undefined,
  subject: string | undefined,
  /** The request field that named the version, for the 404. */
  versionField = 'version',
): Promise<{ version: string; source: VersionSource }> {
  if (requested !== undefined) {
    if (!(await repos.policyVersions.findByVersion(agentId, requested))) throw new NotFoundError(`agent ${agentId} has no policy version ${requested}`, versionField);
    return { version: requested, source: 'request' };
  }
  const deployment = await repos.deployments.current(agentId);
  if (deployment) {
    const sticky = deployment.sticky === 'subject' && subject !== undefined ? subject : null;
    return { version: assignVariant(deployment.variants, agentId, sticky).version, source: 'deployment' };
  }
  const latest = await repos.policyVersions.latest(agentId);
  if (!latest) throw new NotFoundError(`agent ${agentId} has no policy versions yet`, 'agentId');
  return { version: latest.version, source: 'latest' };
}
