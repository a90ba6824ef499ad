/** OpenAPI document from the route schemas, and Swagger UI at /docs. */
import fp from 'fastify-plugin';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';

export default fp(
  async (fastify) => {
    await fastify.register(swagger, {
      openapi: {
        // 3.1: its schemas are JSON Schema 2020-12, which is what TypeBox emits (numeric
        // exclusiveMinimum, `type: 'null'` in unions); as 3.0 the document would be invalid.
        openapi: '3.1.0',
        info: {
          title: 'durable-rlhf API',
          description: 'Collect human feedback per agent and train better policies from it (reward model + PPO on Temporal).',
          version: '0.1.0',
        },
        // Every route but /healthz and /docs needs a project's key (scripts/create-api-key.ts).
        components: { securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'rlhf_<prefix>_<secret>' } } },
        security: [{ apiKey: [] }],
      },
    });
    await fastify.register(swaggerUi, { routePrefix: '/docs' });
  },
  { name: 'swagger' },
);
