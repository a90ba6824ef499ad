/**
 * The serving process (issue 13) as one Fastify plugin: the API's own config, ORM, repositories,
 * API-key auth and rate limit (the keys table is shared; SERVE_RATE_LIMIT_MAX is its own limit),
 * then the policy cache and batcher, then the routes. It is a separate process from the API, so
 * the API never loads TensorFlow.js and a busy model cannot slow feedback writes; clients call
 * it directly (README § Serving).
 */
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import fp from 'fastify-plugin';
import appConfig, { type AppOptions } from '../api/plugins/app/config';
import orm from '../api/plugins/app/orm';
import repositories from '../api/plugins/app/repositories';
import lookups from '../api/plugins/app/lookups';
import auth from '../api/plugins/app/auth';
import rateLimit from '../api/plugins/app/rate-limit';
import { handleError, handleNotFound } from '../api/error-handler';
import { serverOptions } from '../api/app';
import { strictValidatorCompiler } from '../api/validator';
import serving from './plugins/serving';
import serveHealthRoutes from './routes/health';
import generateRoutes from './routes/generate';
import completionsRoutes from './routes/completions';

export const serveApp = fp<AppOptions>(
  async (fastify, opts) => {
    fastify.setValidatorCompiler(strictValidatorCompiler);
    fastify.setErrorHandler(handleError);
    fastify.setNotFoundHandler(handleNotFound);

    await fastify.register(appConfig, opts);
    await fastify.register(orm);
    await fastify.register(repositories);
    await fastify.register(lookups);
    await fastify.register(auth);
    await fastify.register(rateLimit, { max: opts.env.SERVE_RATE_LIMIT_MAX });
    await fastify.register(serving);

    await fastify.register(serveHealthRoutes);
    await fastify.register(generateRoutes);
    await fastify.register(completionsRoutes);
  },
  { name: 'durable-rlhf-serve' },
);

/** A ready serving app (database migrated, no model loaded until the first request for it). */
export async function buildServeApp(opts: AppOptions, logger: FastifyServerOptions['logger'] = { level: opts.env.LOG_LEVEL }): Promise<FastifyInstance> {
  const fastify = Fastify(serverOptions(logger));
  await fastify.register(serveApp, opts);
  await fastify.ready();
  return fastify;
}
