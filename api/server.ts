/** Starts the API: reads the environment, builds the app, listens. Nothing else lives here. */
import { loadEnv } from '../common/env';
import { buildApp } from './app';
import { listenUntilSignalled } from './listen';

async function main(): Promise<void> {
  const env = loadEnv();
  await listenUntilSignalled(await buildApp({ env }), env.API_HOST, env.API_PORT);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
