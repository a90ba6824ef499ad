/**
 * The API as one Fastify plugin (fastify/demo layout): external plugins first (OpenAPI +
 * Swagger UI at /docs), then the app plugins (config, ORM with a forked EntityManager per
 * request, Prometheus metrics, repositories, API-key auth, per-key rate limit, Temporal client), then the routes,
 * then the run pages (`/ui`, static files from `ui/`).
 * `buildApp` creates the server instance with the API's server options; server.ts listens, tests use `app.inject`.
 */
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import fp from 'fastify-plugin';
import swagger from './plugins/external/swagger';
import appConfig, { type AppOptions } from './plugins/app/config';
import idempotencySweep from './plugins/app/idempotency-sweep';
import orm from './plugins/app/orm';
import repositories from './plugins/app/repositories';
import lookups from './plugins/app/lookups';
import auth from './plugins/app/auth';
import rateLimit from './plugins/app/rate-limit';
import temporal from './plugins/app/temporal';
import artifacts from './plugins/app/artifacts';
import apiMetrics from './plugins/app/metrics';
import healthRoutes from './routes/health';
import feedbackRoutes from './routes/feedback';
import feedbackBulkRoutes from './routes/feedback-bulk';
import feedbackDeleteRoutes from './routes/feedback-delete';
import policyRoutes from './routes/policies';
import deploymentRoutes from './routes/deployments';
import abReportRoutes from './routes/ab-report';
import trainRoutes from './routes/train';
import scheduleRoutes from './routes/schedule';
import runRoutes from './routes/runs';
import runHistoryRoutes from './routes/run-history';
import metricsRoutes from './routes/metrics';
import uiRoutes from './routes/ui';
import { handleError, handleNotFound } from './error-handler';
import { methodNotAllowed, trackRoutes } from './plugins/app/method-not-allowed';
import { strictValidatorCompiler } from './validator';
import { BODY_LIMIT_BYTES } from './schemas/common';
import { safeLoggerOptions } from './log-safety';

export type { AppOptions } from './plugins/app/config';

export const app = fp<AppOptions>(
  async (fastify, opts) => {
    // Strict: a body as sent; query/params/headers converted only from plain literals (api/validator.ts).
    fastify.setValidatorCompiler(strictValidatorCompiler);
    fastify.setErrorHandler(handleError);
    fastify.setNotFoundHandler(handleNotFound);

    await fastify.register(swagger);

    await fastify.register(appConfig, opts);
    await fastify.register(orm);
    await fastify.register(apiMetrics);
    await fastify.register(idempotencySweep);
    await fastify.register(repositories);
    await fastify.register(lookups);
    await fastify.register(auth);
    await fastify.register(rateLimit);
    await fastify.register(temporal);
    await fastify.register(artifacts);

    const tracker = trackRoutes(fastify);
    await fastify.register(healthRoutes);
    await fastify.register(feedbackRoutes);
    await fastify.register(feedbackBulkRoutes);
    await fastify.register(feedbackDeleteRoutes);
    await fastify.register(policyRoutes);
    await fastify.register(deploymentRoutes);
    await fastify.register(abReportRoutes);
    await fastify.register(trainRoutes);
    await fastify.register(scheduleRoutes);
    await fastify.register(runRoutes);
    await fastify.register(runHistoryRoutes);
    await fastify.register(metricsRoutes);
    await fastify.register(uiRoutes);
    // Last: it answers 405 on the paths of every route registered before it.
    await fastify.register(methodNotAllowed, { tracker });
  },
  { name: 'durable-rlhf-api' },
);

/** Server options every instance of the API uses (body limit, no trust in client-sent ids, redacting logger). */
export function serverOptions(logger: FastifyServerOptions['logger']): FastifyServerOptions {
  return {
    logger: safeLoggerOptions(logger),
    bodyLimit: BODY_LIMIT_BYTES,
    // Request ids come from Fastify, never from a client header.
    requestIdHeader: false,
    // No implicit HEAD routes: the OpenAPI document does not declare them, so HEAD answers 405.
    exposeHeadRoutes: false,
  };
}

/** A ready app instance (plugins loaded, migrations applied, Temporal connected). */
export async function buildApp(opts: AppOptions, logger: FastifyServerOptions['logger'] = { level: opts.env.LOG_LEVEL }): Promise<FastifyInstance> {
  const fastify = Fastify(serverOptions(logger));
  await fastify.register(app, opts);
  await fastify.ready();
  return fastify;
}
