/**
 * `POST /v1/agents/:agentId/generate`: completions from one of the agent's policy versions
 * (serve/generation.ts). The answer's `requestId` is recorded with the version that answered, so
 * feedback on the answer can be attributed to it (api/attribution.ts).
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { agentErrorResponses } from '../../api/schemas/common';
import { runGeneration } from '../generation';
import { GenerateAnswer, GenerateBody, GenerateParams } from '../schemas';

const generateRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post(
    '/v1/agents/:agentId/generate',
    {
      schema: {
        summary: 'Sample completions from the agent\'s deployed (or named) policy version',
        params: GenerateParams,
        body: GenerateBody,
        response: { 200: GenerateAnswer, ...agentErrorResponses },
      },
    },
    async (request) => {
      const { version, requestId, completions } = await runGeneration(request, request.params.agentId, request.body, { prompt: 'prompt', maxNewTokens: 'maxNewTokens', version: 'version' });
      return { version, requestId, completions };
    },
  );
};

export default generateRoutes;
