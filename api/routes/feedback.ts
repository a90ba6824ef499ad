/**
 * Feedback collection: single and batch inserts, and cursor-paged listing per agent. The
 * first feedback for an unknown agent gives it to the key's project (in the same
 * transaction as the rows); an agent of another project answers 404 and writes nothing.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { createRepositories, type NewFeedback } from '../../db/repositories';
import { agentNotFound, identityOf, requireOwnedAgent } from '../ownership';
import { AgentIdParams, agentErrorResponses } from '../schemas/common';
import {
  DEFAULT_PAGE_LIMIT,
  FeedbackBatchCreated,
  FeedbackCreated,
  FeedbackPageBody,
  FeedbackPageQuery,
  feedbackBatchSchema,
  feedbackItemSchema,
} from '../schemas/feedback';

/**
 * Inserts the rows for an agent of the key's project. An agent's owner never changes, so a
 * known agent needs only the ownership read; an unknown one is claimed in the same
 * transaction as its first rows, so a failed insert leaves no agent row behind.
 */
async function insertOwned(request: FastifyRequest, agentId: string, items: readonly Omit<NewFeedback, 'agentId' | 'projectId'>[]) {
  const { projectId } = identityOf(request);
  const owner = await request.repos.agents.ownerOf(agentId);
  if (owner !== null && owner !== projectId) throw agentNotFound(agentId);
  const rows = items.map((item) => ({ ...item, agentId, projectId }));
  if (owner === projectId) return rows.length === 1 ? [await request.repos.feedback.insert(rows[0])] : request.repos.feedback.insertMany(rows);
  return request.em.transactional(async (tx) => {
    const repos = createRepositories(tx);
    if (!(await repos.agents.claim(agentId, projectId))) throw agentNotFound(agentId);
    return repos.feedback.insertMany(rows);
  });
}

const feedbackRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const { scoreRange } = fastify.appConfig;

  fastify.post(
    '/api/policies/feedback/:agentId',
    {
      schema: {
        summary: 'Record one feedback row',
        params: AgentIdParams,
        body: feedbackItemSchema(scoreRange),
        response: { 201: FeedbackCreated, ...agentErrorResponses },
      },
    },
    async (request, reply) => {
      const [row] = await insertOwned(request, request.params.agentId, [request.body]);
      return reply.status(201).send({ id: row.id });
    },
  );

  fastify.post(
    '/api/policies/feedback/:agentId/batch',
    {
      schema: {
        summary: 'Record up to 1000 feedback rows, all or nothing',
        params: AgentIdParams,
        body: feedbackBatchSchema(scoreRange),
        response: { 201: FeedbackBatchCreated, ...agentErrorResponses },
      },
    },
    async (request, reply) => {
      const rows = await insertOwned(request, request.params.agentId, request.body.items);
      return reply.status(201).send({ ids: rows.map((r) => r.id) });
    },
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
      return { items: page.items.map((f) => ({ ...f, createdAt: f.createdAt.toISOString() })), nextCursor: page.nextCursor };
    },
  );
};

export default feedbackRoutes;
