/** Trained policy versions of an agent of the key's project, newest first. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { requireOwnedAgent } from '../ownership';
import { AgentIdParams, agentErrorResponses } from '../schemas/common';
import { PolicyListBody } from '../schemas/policies';

const policyRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get(
    '/api/policies/:agentId',
    {
      schema: {
        summary: 'List an agent\'s policy versions, newest first',
        params: AgentIdParams,
        response: { 200: PolicyListBody, ...agentErrorResponses },
      },
    },
    async (request) => {
      const { agentId } = request.params;
      await requireOwnedAgent(request, agentId);
      const versions = await request.repos.policyVersions.listByAgent(agentId);
      // metrics always carries rewardMean/rewardStd, as the seed's list did.
      const policies = versions.map((v) => ({
        ...v,
        metrics: { rewardMean: v.rewardMean, rewardStd: v.rewardStd, ...v.metrics },
        createdAt: v.createdAt.toISOString(),
      }));
      return { agentId, policies };
    },
  );
};

export default policyRoutes;
