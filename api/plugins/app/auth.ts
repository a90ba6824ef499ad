/**
 * API-key authentication. Every route needs `Authorization: Bearer rlhf_<prefix>_<secret>`
 * except those marked `config: { public: true }` (health) and the /docs routes. A missing,
 * malformed, unknown or revoked key gets the same 401, so an answer says nothing about
 * which keys exist. Runs in onRequest, before the body is read. `request.auth` names the
 * key and its project for the handlers (ownership checks, rate limiting). A verified key is
 * cached for AUTH_CACHE_TTL_MS, so a revocation takes effect within that time.
 */
import { createHash } from 'node:crypto';
import fp from 'fastify-plugin';
import type { FastifyRequest } from 'fastify';
import { bearerToken } from '../../../db/api-key-format';
import type { ApiKeyIdentity } from '../../../db/repositories';
import { UnauthorizedError } from '../../errors';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Route answers without an API key. */
    public?: boolean;
  }
  interface FastifyRequest {
    /** The authenticated key; null only on public routes. */
    auth: ApiKeyIdentity | null;
  }
}

/** Route patterns (not request URLs, so `/docs/../api` cannot match) that need no key. */
function isPublicRoute(request: FastifyRequest): boolean {
  const pattern = request.routeOptions.url;
  return request.routeOptions.config.public === true || pattern === '/docs' || (pattern?.startsWith('/docs/') ?? false);
}

/**
 * The identity behind a request's Authorization header, or null. A verified key is trusted for
 * AUTH_CACHE_TTL_MS (api/plugins/app/lookups.ts): that bounds how long a revoked key still works.
 */
export async function identify(request: FastifyRequest): Promise<ApiKeyIdentity | null> {
  const token = bearerToken(request.headers.authorization);
  if (!token) return null;
  const { identities } = request.server.lookups;
  const cacheKey = createHash('sha256').update(token).digest('base64url');
  const cached = identities.get(cacheKey);
  if (cached) return cached;
  const identity = await request.repos.projects.authenticate(token);
  if (identity) identities.set(cacheKey, identity);
  return identity;
}

export default fp(
  async (fastify) => {
    fastify.decorateRequest('auth', null);
    fastify.addHook('onRequest', async (request, reply) => {
      if (isPublicRoute(request)) return;
      const identity = await identify(request);
      if (!identity) {
        reply.header('www-authenticate', 'Bearer realm="durable-rlhf"');
        throw new UnauthorizedError();
      }
      request.auth = identity;
    });
  },
  { name: 'auth', dependencies: ['repositories', 'lookups'] },
);
