/**
 * `GET /metrics`: the API's Prometheus metrics in the text exposition format. Public like /healthz (no API
 * key: a scraper has none): it holds counts and durations by route pattern only, never an id, a key or
 * feedback text. Expose the port to your Prometheus only (docs/observability.md).
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';

const metricsRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const { registry } = fastify.apiMetrics;
  fastify.get(
    '/metrics',
    {
      config: { public: true },
      schema: {
        summary: 'Prometheus metrics (text exposition format 0.0.4)',
        security: [],
        response: { 200: { description: 'Prometheus text exposition', content: { [registry.contentType]: { schema: Type.String() } } } },
      },
    },
    async (_request, reply) => {
      const text = await registry.metrics();
      return reply.type(registry.contentType).send(text);
    },
  );
};

export default metricsRoutes;
