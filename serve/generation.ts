/**
 * One generate call, whatever its wire format (serve/routes/generate.ts, serve/routes/completions.ts):
 * choose the version, pin the loaded policy, check the lengths against its block, sample through
 * the batcher, record the answered request for attribution.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { HttpError, NotFoundError } from '../api/errors';
import { identityOf, requireOwnedAgent } from '../api/ownership';
import { PolicyUnavailableError } from './policy-cache';
import type { GenerateBodyType } from './schemas';
import { chooseVersion } from './version-choice';

export class GenerateRequestError extends HttpError {
  override readonly name = 'GenerateRequestError';
  constructor(code: string, message: string, field: string) {
    super(400, code, message, field);
  }
}

export interface GeneratedCompletion {
  text: string;
  /** Generated tokens, EOS not counted. */
  tokens: number;
  finishReason: 'stop' | 'length';
}

export interface Generation {
  version: string;
  requestId: string;
  promptTokens: number;
  completions: GeneratedCompletion[];
}

/** Field names of the caller's wire format, for error answers (`maxNewTokens` is `max_tokens` in the OpenAI shape). */
export interface FieldNames {
  prompt: string;
  maxNewTokens: string;
  version: string;
}

export async function runGeneration(request: FastifyRequest, agentId: string, body: GenerateBodyType, fields: FieldNames): Promise<Generation> {
  const { serving } = request.server;
  const { projectId } = identityOf(request);
  await requireOwnedAgent(request, agentId);
  const { version } = await chooseVersion(request.repos, agentId, body.version, body.subject, fields.version);

  let handle;
  try {
    handle = await serving.policies.acquire(agentId, version);
  } catch (err) {
    if (err instanceof PolicyUnavailableError) {
      throw new NotFoundError(`policy version ${version} of agent ${agentId} is not available for serving`, body.version !== undefined ? fields.version : 'agentId');
    }
    throw err;
  }
  let completions: GeneratedCompletion[];
  let promptTokens: number;
  try {
    const { policy, tokenizer, config } = handle.policy;
    const trained = config.ppo.generation;
    const blockSize = policy.config.blockSize;
    const maxNewTokens = body.maxNewTokens ?? trained.maxNewTokens;
    if (maxNewTokens > blockSize - 2) {
      throw new GenerateRequestError(
        'max_new_tokens_too_large',
        `${fields.maxNewTokens} ${maxNewTokens} exceeds ${blockSize - 2}, what version ${version}'s block of ${blockSize} tokens leaves after BOS and one prompt token`,
        fields.maxNewTokens,
      );
    }
    const ids = tokenizer.encode(body.prompt);
    promptTokens = ids.length;
    if (1 + ids.length + maxNewTokens > blockSize) {
      throw new GenerateRequestError(
        'prompt_too_long',
        `the prompt is ${ids.length} tokens; with BOS and ${fields.maxNewTokens} ${maxNewTokens}, version ${version}'s block of ${blockSize} tokens holds at most ${blockSize - 1 - maxNewTokens}`,
        fields.prompt,
      );
    }
    const rows = await serving.batcher.submit({
      policy: handle.policy,
      promptIds: [tokenizer.bosId, ...ids],
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
      const out = r.endedWithEos ? r.ids.slice(0, -1) : r.ids;
      return { text: tokenizer.decode(out), tokens: out.length, finishReason: r.endedWithEos ? 'stop' : 'length' };
    });
  } finally {
    handle.release();
  }
  const requestId = randomUUID();
  await request.repos.generationRequests.insert({ id: requestId, projectId, agentId, version });
  return { version, requestId, promptTokens, completions };
}
