/**
 * Decorates `fastify.orm` (created and migrated at start-up, closed on app close) and
 * `request.em`: one forked EntityManager per request, so no identity map is shared
 * between requests.
 */
import fp from 'fastify-plugin';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { createOrm } from '../../../db/orm';

declare module 'fastify' {
  interface FastifyInstance {
    orm: MikroORM;
  }
  interface FastifyRequest {
    em: EntityManager;
  }
}

export default fp(
  async (fastify) => {
    const url = fastify.appConfig.env.DATABASE_URL;
    if (!url) throw new Error('DATABASE_URL is not set');
    // API_POOL_MAX (common/env.ts says why its default is what it is).
    const orm = await createOrm(url, { pool: { min: 0, max: fastify.appConfig.env.API_POOL_MAX } });
    fastify.decorate('orm', orm);
    fastify.decorateRequest('em', null as unknown as EntityManager);
    fastify.addHook('onRequest', async (request) => {
      request.em = orm.em.fork();
    });
    fastify.addHook('onClose', async () => {
      await orm.close(true);
    });
  },
  { name: 'orm', dependencies: ['app-config'] },
);
