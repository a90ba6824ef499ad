/**
 * Feedback collection: single and batch inserts, and cursor-paged listing per agent. The
 * first feedback for an unknown agent gives it to the key's project (in the same
 * transaction as the rows); an agent of another project answers 404 and writes nothing.
 * Rows that name a serving request or version are attributed to it (api/attribution.ts).
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { EntityManager } from '@mikro-orm/postgresql';
import { createRepositories, type Repositories } from '../../db/repositories';
import { attributeItems } from '../attribution';
import { REPLAYED_HEADER, idempotentWrite } from '../idempotency';
import { agentNotFound, identityOf, ownerOf, requireOwnedAgent } from '../ownership';
import { AgentIdParams, agentErrorResponses } from '../schemas/common';
import {
  DEFAULT_PAGE_LIMIT,
  FeedbackBatchCreated,
  FeedbackCreated,
  type FeedbackItem,
  FeedbackPageBody,
  FeedbackPageQuery,
  IdempotencyHeaders,
  feedbackBatchSchema,
  feedbackItemSchema,
  idempotentWriteResponses,
  toFeedbackView,
} from '../schemas/feedback';

/** The dotted path of an item's field in the request body, for error answers. */
type FieldOf = (index: number, field: string) => string;

/**
 * Inserts the rows for an agent of the key's project. An agent's owner never changes, so a
 * known agent needs only the ownership read; an unknown one is claimed in the same
 * transaction as its first rows, so a failed insert leaves no agent row behind.
 */
async function insertOwned(
  request: FastifyRequest,
  { repos, em }: { repos: Repositories; em: EntityManager },
  agentId: string,
  items: readonly FeedbackItem[],
  fieldOf: FieldOf,
) {
  const { projectId } = identityOf(request);
  const owner = await ownerOf(request, agentId, repos);
  if (owner !== null && owner !== projectId) throw agentNotFound(agentId);
  const attributions = await attributeItems(repos, { projectId, agentId }, items, fieldOf);
  const rows = items.map((item, i) => ({ ...item, ...attributions[i], agentId, projectId }));
  if (owner === projectId) return rows.length === 1 ? [await repos.feedback.insert(rows[0])] : repos.feedback.insertMany(rows);
  return em.transactional(async (tx) => {
    const repos = createRepositories(tx);
    if (!(await repos.agents.claim(agentId, projectId))) throw agentNotFound(agentId);
    return repos.feedback.insertMany(rows);
  });
}

/** Inserts the items (at most once per Idempotency-Key) and answers 201 with `toBody(ids)`. */
async function createFeedback(
  request: FastifyRequest,
  reply: FastifyReply,
  agentId: string,
  items: readonly FeedbackItem[],
  fieldOf: FieldOf,
  toBody: (ids: string[]) => Record<string, unknown>,
) {
  const answer = await idempotentWrite(request, async (repos, em) => {
    const rows = await insertOwned(request, { repos, em }, agentId, items, fieldOf);
    return { status: 201, body: toBody(rows.map((r) => r.id)) };
  });
  const { apiMetrics } = request.server;
  if (answer.replayed) {
    reply.header(REPLAYED_HEADER, 'true');
    apiMetrics.idempotentReplays.inc({ route: request.routeOptions.url });
  } else if (answer.status === 201) {
    apiMetrics.feedbackRowsWritten.inc(items.length);
  }
  return reply.status(answer.status).send(answer.body);
}

const feedbackRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const { scoreRange } = fastify.appConfig;

  fastify.post(
    '/api/policies/feedback/:agentId',
    {
      schema: {
        summary: 'Record one feedback row',
        params: AgentIdParams,
        headers: IdempotencyHeaders,
        body: feedbackItemSchema(scoreRange),
        response: { 201: FeedbackCreated, ...idempotentWriteResponses },
      },
    },
    async (request, reply) => createFeedback(request, reply, request.params.agentId, [request.body], (_, field) => field, ([id]) => ({ id })),
  );

  fastify.post(
    '/api/policies/feedback/:agentId/batch',
    {
      schema: {
        summary: 'Record up to 1000 feedback rows, all or nothing',
        params: AgentIdParams,
        headers: IdempotencyHeaders,
        body: feedbackBatchSchema(scoreRange),
        response: { 201: FeedbackBatchCreated, ...idempotentWriteResponses },
      },
    },
    async (request, reply) => createFeedback(request, reply, request.params.agentId, request.body.items, (i, field) => `items.${i}.${field}`, (ids) => ({ ids })),
  );

  fastify.get(
    '/api/policies/feedback/:agentId',
    {
      schema: {
        summary: 'Page through an agent\'s feedback in insertion order',
        params: AgentIdParams,
        querystring: FeedbackPageQuery,
        response: { 200: FeedbackPageBody, ...agentErrorResponses },
      },
    },
    async (request) => {
      const { cursor, limit = DEFAULT_PAGE_LIMIT } = request.query;
      await requireOwnedAgent(request, request.params.agentId);
      const page = await request.repos.feedback.page(request.params.agentId, cursor ?? null, limit);
      return { items: page.items.map(toFeedbackView), nextCursor: page.nextCursor };
    },
  );
};

export default feedbackRoutes;
