/** Decorates `request.repos`: the repositories over the request's own EntityManager. */
import fp from 'fastify-plugin';
import { createRepositories, type Repositories } from '../../../db/repositories';

declare module 'fastify' {
  interface FastifyRequest {
    repos: Repositories;
  }
}

export default fp(
  async (fastify) => {
    fastify.decorateRequest('repos', null as unknown as Repositories);
    fastify.addHook('onRequest', async (request) => {
      request.repos = createRepositories(request.em);
    });
  },
  { name: 'repositories', dependencies: ['orm'] },
);
