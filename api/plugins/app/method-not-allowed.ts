/**
 * 405 Method Not Allowed (RFC 9110 §15.5.6) for a documented path asked with a method it does
 * not declare, with the `Allow` header listing the ones it does; other unknown paths stay 404.
 * `trackRoutes` records the routes as they are added (an onRoute hook set before the routes),
 * and `methodNotAllowed`, registered after them, adds one hidden public route per missing method.
 * Public so that the answer is the same with or without a key: the path and its methods are
 * in the public OpenAPI document anyway.
 */
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest, HTTPMethods, RouteOptions } from 'fastify';

/** Methods a 405 is given for (RFC 9110 §9, PATCH of RFC 5789, and QUERY, draft-ietf-httpbis-safe-method-w-body, which Fastify routes). */
const METHODS: readonly HTTPMethods[] = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'QUERY'];

export interface RouteTracker {
  /** Declared methods per documented route pattern. */
  readonly methods: Map<string, Set<string>>;
}

/** Starts recording the documented routes (not hidden ones, not /docs) added from now on. */
export function trackRoutes(fastify: FastifyInstance): RouteTracker {
  const methods = new Map<string, Set<string>>();
  fastify.addHook('onRoute', (route: RouteOptions) => {
    const hidden = (route.schema as { hide?: boolean } | undefined)?.hide === true;
    if (hidden || route.url === '/docs' || route.url.startsWith('/docs/')) return;
    const declared = methods.get(route.url) ?? new Set<string>();
    for (const m of [route.method].flat()) declared.add(m.toUpperCase());
    methods.set(route.url, declared);
  });
  return { methods };
}

export const methodNotAllowed: FastifyPluginAsync<{ tracker: RouteTracker }> = async (fastify, { tracker }) => {
  for (const [url, declared] of [...tracker.methods]) {
    const missing = METHODS.filter((m) => !declared.has(m));
    if (missing.length === 0) continue;
    const allow = [...declared].sort().join(', ');
    const refuse = async (request: FastifyRequest, reply: FastifyReply) =>
      reply.status(405).header('allow', allow).send({ error: 'method_not_allowed', message: `${request.method} is not allowed on ${url}; allowed: ${allow}` });
    fastify.route({
      method: missing,
      url,
      config: { public: true },
      schema: { hide: true },
      // In onRequest: Fastify refuses a QUERY without Content-Type (400) before it reaches a handler.
      onRequest: refuse,
      handler: refuse,
    });
  }
};
