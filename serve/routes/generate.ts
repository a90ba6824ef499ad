/**
 * `POST /v1/agents/:agentId/generate`: completions from one of the agent's policy versions
 * (serve/version-choice.ts), batched with concurrent requests (serve/generation-batcher.ts). The
 * answer's `requestId` is recorded with the version that answered, so feedback on the answer can
 * be attributed to it (api/attribution.ts).
 */
import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { HttpError, NotFoundError } from '../../api/errors';
import { identityOf, requireOwnedAgent } from '../../api/ownership';
import { agentErrorResponses } from '../../api/schemas/common';
import { PolicyUnavailableError } from '../policy-cache';
import { GenerateAnswer, GenerateBody, GenerateParams } from '../schemas';
import { chooseVersion } from '../version-choice';

export class GenerateRequestError extends HttpError {
  override readonly name = 'GenerateRequestError';
  constructor(code: string, message: string, field: string) {
    super(400, code, message, field);
  }
}

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
      const { agentId } = request.params;
      const body = request.body;
      const { projectId } = identityOf(request);
      await requireOwnedAgent(request, agentId);
      const { version } = await chooseVersion(request.repos, agentId, body.version, body.subject);

      let handle;
      try {
        handle = await fastify.serving.policies.acquire(agentId, version);
      } catch (err) {
        if (err instanceof PolicyUnavailableError) {
          throw new NotFoundError(`policy version ${version} of agent ${agentId} is not available for serving`, body.version !== undefined ? 'version' : 'agentId');
        }
        throw err;
      }
      let completions;
      try {
        const { policy, tokenizer, config } = handle.policy;
        const trained = config.ppo.generation;
        const blockSize = policy.config.blockSize;
        const maxNewTokens = body.maxNewTokens ?? trained.maxNewTokens;
        if (maxNewTokens > blockSize - 2) {
          throw new GenerateRequestError('max_new_tokens_too_large', `maxNewTokens ${maxNewTokens} exceeds ${blockSize - 2}, what version ${version}'s block of ${blockSize} tokens leaves after BOS and one prompt token`, 'maxNewTokens');
        }
        const promptTokens = tokenizer.encode(body.prompt);
        if (1 + promptTokens.length + maxNewTokens > blockSize) {
          throw new GenerateRequestError(
            'prompt_too_long',
            `the prompt is ${promptTokens.length} tokens; with BOS and maxNewTokens ${maxNewTokens}, version ${version}'s block of ${blockSize} tokens holds at most ${blockSize - 1 - maxNewTokens}`,
            'prompt',
          );
        }
        const rows = await fastify.serving.batcher.submit({
          policy: handle.policy,
          promptIds: [tokenizer.bosId, ...promptTokens],
          n: body.n ?? 1,
          sampling: {
            maxNewTokens,
            // Never shorter than the policy was trained to answer (min_new_tokens; ml/sampling), capped by the request's length.
            minNewTokens: Math.min(trained.minNewTokens ?? 0, maxNewTokens),
            temperature: body.temperature ?? trained.temperature,
            topK: body.topK ?? trained.topK,
            topP: body.topP ?? trained.topP,
          },
          seed: body.seed ?? null,
        });
        completions = rows.map((r) => {
          const ids = r.endedWithEos ? r.ids.slice(0, -1) : r.ids;
          return { text: tokenizer.decode(ids), tokens: ids.length, finishReason: r.endedWithEos ? ('stop' as const) : ('length' as const) };
        });
      } finally {
        handle.release();
      }
      const requestId = randomUUID();
      await request.repos.generationRequests.insert({ id: requestId, projectId, agentId, version });
      return { version, requestId, completions };
    },
  );
};

export default generateRoutes;
