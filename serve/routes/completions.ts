/**
 * `POST /v1/completions` in the shape of OpenAI's (legacy) Completions API, so existing clients
 * work with a base URL and a key: `model` is the agent id, optionally `agentId:vN` for a version;
 * `user` is the sticky subject; `max_tokens`, `temperature`, `top_p`, `n`, `seed` as there. The
 * answer's `id` is the requestId to attribute feedback with. Not supported: streaming, logprobs,
 * echo, stop sequences, several prompts per call (a 400 names the field).
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { SAFE_ID_PATTERN } from '../../common/ids';
import { ErrorBody, MAX_TEXT_CHARS, authErrorResponses, storableText } from '../../api/schemas/common';
import { VERSION_LABEL_PATTERN } from '../../api/schemas/deployments';
import { runGeneration } from '../generation';
import { MAX_COMPLETIONS, MAX_NEW_TOKENS_LIMIT } from '../schemas';

/** `agentId` or `agentId:vN`. */
const MODEL_PATTERN = `^${SAFE_ID_PATTERN.replace(/^\^|\$$/g, '')}(:${VERSION_LABEL_PATTERN.replace(/^\^|\$$/g, '')})?$`;

const CompletionsBody = Type.Object(
  {
    model: Type.String({ pattern: MODEL_PATTERN, description: 'The agent id, or "agentId:v3" for one version' }),
    prompt: Type.String({ minLength: 1, maxLength: MAX_TEXT_CHARS, ...storableText }),
    max_tokens: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_NEW_TOKENS_LIMIT })),
    temperature: Type.Optional(Type.Number({ minimum: 0, maximum: 2 })),
    top_p: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1 })),
    n: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_COMPLETIONS })),
    seed: Type.Optional(Type.Integer({ minimum: 0, maximum: 2 ** 31 - 1 })),
    user: Type.Optional(Type.String({ minLength: 1, maxLength: 256, ...storableText })),
    stream: Type.Optional(Type.Literal(false, { description: 'Streaming is not supported' })),
  },
  { additionalProperties: false },
);

const CompletionsAnswer = Type.Object({
  id: Type.String({ description: 'The requestId: post feedback on this answer with it' }),
  object: Type.Literal('text_completion'),
  created: Type.Integer(),
  model: Type.String({ description: '"agentId:vN": the version that answered' }),
  choices: Type.Array(
    Type.Object({
      index: Type.Integer(),
      text: Type.String(),
      finish_reason: Type.Union([Type.Literal('stop'), Type.Literal('length')]),
      logprobs: Type.Null(),
    }),
  ),
  usage: Type.Object({ prompt_tokens: Type.Integer(), completion_tokens: Type.Integer(), total_tokens: Type.Integer() }),
});

const completionsRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post(
    '/v1/completions',
    {
      schema: {
        summary: 'OpenAI-style completions: model = agent id (or "agentId:vN")',
        body: CompletionsBody,
        response: { 200: CompletionsAnswer, 404: ErrorBody, ...authErrorResponses },
      },
    },
    async (request) => {
      const body = request.body;
      const [agentId, version] = body.model.split(':');
      const generation = await runGeneration(
        request,
        agentId,
        { prompt: body.prompt, n: body.n, maxNewTokens: body.max_tokens, temperature: body.temperature, topP: body.top_p, seed: body.seed, version, subject: body.user },
        { prompt: 'prompt', maxNewTokens: 'max_tokens', version: 'model' },
      );
      const completionTokens = generation.completions.reduce((sum, c) => sum + c.tokens, 0);
      return {
        id: generation.requestId,
        object: 'text_completion' as const,
        created: Math.floor(Date.now() / 1000),
        model: `${agentId}:${generation.version}`,
        choices: generation.completions.map((c, index) => ({ index, text: c.text, finish_reason: c.finishReason, logprobs: null })),
        usage: { prompt_tokens: generation.promptTokens, completion_tokens: completionTokens, total_tokens: generation.promptTokens + completionTokens },
      };
    },
  );
};

export default completionsRoutes;
