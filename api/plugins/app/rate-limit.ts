/**
 * Per-key rate limiting (@fastify/rate-limit): RATE_LIMIT_MAX requests per
 * RATE_LIMIT_WINDOW_MS for each API key, by client address on the public routes. Past the
 * limit: 429 with Retry-After (seconds) and the x-ratelimit-* headers. Registered after
 * `auth`, whose onRequest hook runs before the per-route hook this plugin adds, so the key
 * is known here; unauthenticated requests were already answered 401.
 */
import fp from 'fastify-plugin';
import rateLimit from '@fastify/rate-limit';
import { HttpError } from '../../errors';

export interface RateLimitOptions {
  /** Requests per window per key; default RATE_LIMIT_MAX (the serving process passes SERVE_RATE_LIMIT_MAX). */
  max?: number;
}

export default fp<RateLimitOptions>(
  async (fastify, opts) => {
    const { RATE_LIMIT_MAX, RATE_LIMIT_WINDOW_MS } = fastify.appConfig.env;
    await fastify.register(rateLimit, {
      global: true,
      max: opts.max ?? RATE_LIMIT_MAX,
      timeWindow: RATE_LIMIT_WINDOW_MS,
      keyGenerator: (request) => (request.auth ? `key:${request.auth.keyId}` : `ip:${request.ip}`),
      errorResponseBuilder: (_request, context) =>
        new HttpError(429, 'rate_limited', `rate limit of ${context.max} requests per window exceeded; retry in ${context.after}`),
    });
  },
  { name: 'rate-limit', dependencies: ['app-config', 'auth'] },
);
