/** `GET /api/policies/:agentId/ab`: the A/B report from feedback attributed to versions (api/ab-report.ts). */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { abReport } from '../ab-report';
import { requireOwnedAgent } from '../ownership';
import { AgentIdParams, agentErrorResponses } from '../schemas/common';
import { AbQuery, AbReportBody } from '../schemas/deployments';

const abReportRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get(
    '/api/policies/:agentId/ab',
    {
      schema: {
        summary: 'Per-version mean feedback score with 95 % intervals, and each version against the control',
        description:
          'Counts feedback rows attributed to a version (posted with `requestId` or `policyVersion`). The control is `control`, ' +
          'else the deployed variant with the largest weight, else the oldest version with rows. A verdict is `better` or `worse` ' +
          'when Welch\'s 95 % interval of the difference excludes 0; each look is a fixed-level test, so checking again and again ' +
          'as rows arrive makes a false verdict more likely than 5 %.',
        params: AgentIdParams,
        querystring: AbQuery,
        response: { 200: AbReportBody, ...agentErrorResponses },
      },
    },
    async (request) => {
      const { agentId } = request.params;
      const { since, control } = request.query;
      await requireOwnedAgent(request, agentId);
      const sinceDate = since ? new Date(since) : null;
      // One after the other: the request's EntityManager runs one query at a time.
      const stats = await request.repos.feedback.scoreStatsByVersion(agentId, sinceDate);
      const deployment = await request.repos.deployments.current(agentId);
      const weights = new Map((deployment?.variants ?? []).map((v) => [v.version, v.weight]));
      return { agentId, since: sinceDate?.toISOString() ?? null, ...abReport(stats, weights, control ?? null) };
    },
  );
};

export default abReportRoutes;
