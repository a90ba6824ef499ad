/**
 * An agent's deployment: which policy versions the serving process (serve/) answers with when a
 * request names none, and in which shares (issue 13). Every change is a row of the agent's
 * history; promote and rollback are shortcuts that append one too.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import type { DeploymentChange, DeploymentVariant } from '../../db/entities';
import { checkVariants, checkVersionsExist, promoted, rolledBack } from '../deployment-rules';
import { NotFoundError } from '../errors';
import { requireOwnedAgent } from '../ownership';
import { AgentIdParams, ErrorBody, EmptyObject, agentErrorResponses } from '../schemas/common';
import { DeploymentBody, DeploymentHistoryBody, DeploymentHistoryQuery, DeploymentView, PromoteBody } from '../schemas/deployments';

function toView(change: DeploymentChange) {
  return {
    agentId: change.agentId,
    changeId: change.id,
    action: change.action,
    variants: change.variants,
    sticky: change.sticky,
    changedAt: change.createdAt.toISOString(),
  };
}

async function requireVersions(request: FastifyRequest, agentId: string, variants: readonly DeploymentVariant[]): Promise<void> {
  const existing = await request.repos.policyVersions.existingVersions(agentId, variants.map((v) => v.version));
  checkVersionsExist(variants, existing, agentId);
}

const changeResponses = { 200: DeploymentView, 409: ErrorBody, 422: ErrorBody, ...agentErrorResponses };

const deploymentRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get(
    '/api/policies/:agentId/deployment',
    {
      schema: {
        summary: 'The deployment serve/ answers with (404 until the agent is first deployed)',
        params: AgentIdParams,
        response: { 200: DeploymentView, ...agentErrorResponses },
      },
    },
    async (request) => {
      const { agentId } = request.params;
      await requireOwnedAgent(request, agentId);
      const current = await request.repos.deployments.current(agentId);
      if (!current) throw new NotFoundError(`agent ${agentId} has no deployment`, 'agentId');
      return toView(current);
    },
  );

  fastify.put(
    '/api/policies/:agentId/deployment',
    {
      schema: {
        summary: 'Set the variants (versions and traffic weights) and stickiness',
        params: AgentIdParams,
        body: DeploymentBody,
        response: changeResponses,
      },
    },
    async (request) => {
      const { agentId } = request.params;
      const { variants, sticky = null } = request.body;
      await requireOwnedAgent(request, agentId);
      checkVariants(variants);
      await requireVersions(request, agentId, variants);
      return toView(await request.repos.deployments.change(agentId, 'set', () => ({ variants, sticky })));
    },
  );

  fastify.post(
    '/api/policies/:agentId/deployment/promote',
    {
      schema: {
        summary: 'Send all traffic to one version',
        params: AgentIdParams,
        body: PromoteBody,
        response: changeResponses,
      },
    },
    async (request) => {
      const { agentId } = request.params;
      const { version } = request.body;
      await requireOwnedAgent(request, agentId);
      const variants = [{ version, weight: 1 }];
      const existing = await request.repos.policyVersions.existingVersions(agentId, [version]);
      if (!existing.has(version)) throw new NotFoundError(`agent ${agentId} has no policy version ${version}`, 'version');
      return toView(await request.repos.deployments.change(agentId, 'promote', (newest) => promoted(variants[0].version, newest[0])));
    },
  );

  fastify.post(
    '/api/policies/:agentId/deployment/rollback',
    {
      schema: {
        summary: 'Undo the newest deployment change (409 when there is no earlier deployment)',
        params: AgentIdParams,
        body: EmptyObject,
        response: changeResponses,
      },
    },
    async (request) => {
      const { agentId } = request.params;
      await requireOwnedAgent(request, agentId);
      const versionsNow = await request.repos.policyVersions.listByAgent(agentId);
      const existing = new Set(versionsNow.map((v) => v.version));
      return toView(
        await request.repos.deployments.change(agentId, 'rollback', (newest) => {
          const restored = rolledBack(newest, agentId);
          checkVersionsExist(restored.variants, existing, agentId);
          return restored;
        }),
      );
    },
  );

  fastify.get(
    '/api/policies/:agentId/deployment/history',
    {
      schema: {
        summary: 'Every deployment change, newest first',
        params: AgentIdParams,
        querystring: DeploymentHistoryQuery,
        response: { 200: DeploymentHistoryBody, ...agentErrorResponses },
      },
    },
    async (request) => {
      const { agentId } = request.params;
      await requireOwnedAgent(request, agentId);
      const changes = await request.repos.deployments.history(agentId, request.query.limit ?? 50);
      return { agentId, changes: changes.map(toView) };
    },
  );
};

export default deploymentRoutes;
