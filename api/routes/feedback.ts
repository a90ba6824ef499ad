/** Feedback collection: single and batch inserts, and cursor-paged listing per agent. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { AgentIdParams, commonErrorResponses } from '../schemas/common';
import {
  DEFAULT_PAGE_LIMIT,
  FeedbackBatchCreated,
  FeedbackCreated,
  FeedbackPageBody,
  FeedbackPageQuery,
  feedbackBatchSchema,
  feedbackItemSchema,
} from '../schemas/feedback';

const feedbackRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const { scoreRange } = fastify.appConfig;

  fastify.post(
    '/api/policies/feedback/:agentId',
    {
      schema: {
        summary: 'Record one feedback row',
        params: AgentIdParams,
        body: feedbackItemSchema(scoreRange),
        response: { 201: FeedbackCreated, ...commonErrorResponses },
      },
    },
    async (request, reply) => {
      const row = await request.repos.feedback.insert({ ...request.body, agentId: request.params.agentId });
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
        response: { 201: FeedbackBatchCreated, ...commonErrorResponses },
      },
    },
    async (request, reply) => {
      const { agentId } = request.params;
      const rows = await request.repos.feedback.insertMany(request.body.items.map((item) => ({ ...item, agentId })));
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
        response: { 200: FeedbackPageBody, ...commonErrorResponses },
      },
    },
    async (request) => {
      const { cursor, limit = DEFAULT_PAGE_LIMIT } = request.query;
      const page = await request.repos.feedback.page(request.params.agentId, cursor ?? null, limit);
      return { items: page.items.map((f) => ({ ...f, createdAt: f.createdAt.toISOString() })), nextCursor: page.nextCursor };
    },
  );
};

export default feedbackRoutes;
