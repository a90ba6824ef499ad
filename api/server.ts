/** Starts the API: reads the environment, builds the app, listens. Nothing else lives here. */
import { loadEnv } from '../common/env';
import { buildApp } from './app';

async function main(): Promise<void> {
  const env = loadEnv();
  const fastify = await buildApp({ env });
  const close = () => {
    fastify.close().then(
      () => process.exit(0),
      (err: unknown) => {
        fastify.log.error({ err }, 'error while closing');
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', close);
  process.once('SIGTERM', close);
  await fastify.listen({ host: env.API_HOST, port: env.API_PORT });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
