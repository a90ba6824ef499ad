/** Liveness with dependency checks: 200 when Postgres and Temporal answer, 503 otherwise. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { commonErrorResponses } from '../schemas/common';

const HEALTH_DEADLINE_MS = 2_000;
const DependencyState = Type.Union([Type.Literal('ok'), Type.Literal('unavailable')]);
const HealthBody = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('degraded')]),
  db: DependencyState,
  temporal: DependencyState,
});

const healthRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get(
    '/healthz',
    { config: { public: true }, schema: { summary: 'Health of the API and its dependencies (no API key needed)', security: [], response: { ...commonErrorResponses, 200: HealthBody, 503: HealthBody } } },
    async (request, reply) => {
      const [db, temporal] = await Promise.all([
        request.em.getConnection().execute('select 1').then(
          () => 'ok' as const,
          (err: unknown) => {
            request.log.warn({ err }, 'health: database unavailable');
            return 'unavailable' as const;
          },
        ),
        fastify.temporal.connection
          .withDeadline(Date.now() + HEALTH_DEADLINE_MS, () => fastify.temporal.workflowService.getSystemInfo({}))
          .then(
            () => 'ok' as const,
            (err: unknown) => {
              request.log.warn({ err }, 'health: temporal unavailable');
              return 'unavailable' as const;
            },
          ),
      ]);
      const ok = db === 'ok' && temporal === 'ok';
      return reply.status(ok ? 200 : 503).send({ status: ok ? 'ok' : 'degraded', db, temporal });
    },
  );
};

export default healthRoutes;
