/** `GET /healthz` of the serving process: database reachable, and what is loaded and batched (no API key needed). */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { commonErrorResponses } from '../../api/schemas/common';

const ServeHealthBody = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('degraded')]),
  db: Type.Union([Type.Literal('ok'), Type.Literal('unavailable')]),
  policies: Type.Object({ loaded: Type.Integer(), bytes: Type.Integer(), budgetBytes: Type.Integer(), loads: Type.Integer(), evictions: Type.Integer() }),
  batches: Type.Object({ batches: Type.Integer(), rows: Type.Integer(), queued: Type.Integer() }),
});

const serveHealthRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get(
    '/healthz',
    { config: { public: true }, schema: { summary: 'Health and load of the serving process', security: [], response: { ...commonErrorResponses, 200: ServeHealthBody, 503: ServeHealthBody } } },
    async (request, reply) => {
      const db = await request.em.getConnection().execute('select 1').then(
        () => 'ok' as const,
        (err: unknown) => {
          request.log.warn({ err }, 'health: database unavailable');
          return 'unavailable' as const;
        },
      );
      const body = { status: db === 'ok' ? ('ok' as const) : ('degraded' as const), db, policies: fastify.serving.policies.stats(), batches: fastify.serving.batcher.stats() };
      return reply.status(db === 'ok' ? 200 : 503).send(body);
    },
  );
};

export default serveHealthRoutes;
