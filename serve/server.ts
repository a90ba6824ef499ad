/** Starts the serving process: reads the environment, picks the TensorFlow.js backend, builds the app, listens. */
import { listenUntilSignalled } from '../api/listen';
import { loadEnv } from '../common/env';
import { initBackend } from '../ml/backend';
import { buildServeApp } from './app';

async function main(): Promise<void> {
  const env = loadEnv();
  const backend = await initBackend();
  const fastify = await buildServeApp({ env });
  fastify.log.info({ backend: backend.name }, 'serving backend');
  await listenUntilSignalled(fastify, env.SERVE_HOST, env.SERVE_PORT);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
