/**
 * Decorates `fastify.temporal`: a Temporal client on one connection from the environment
 * (mTLS when TEMPORAL_TLS_CERT/KEY are set), closed when the app closes.
 */
import fp from 'fastify-plugin';
import { readFile } from 'node:fs/promises';
import { Client, Connection, type TLSConfig } from '@temporalio/client';
import type { Env } from '../../../common/env';

declare module 'fastify' {
  interface FastifyInstance {
    temporal: Client;
  }
}

async function tlsFromEnv(env: Env): Promise<TLSConfig | undefined> {
  if (!env.TEMPORAL_TLS_CERT || !env.TEMPORAL_TLS_KEY) return undefined;
  const [crt, key] = await Promise.all([readFile(env.TEMPORAL_TLS_CERT), readFile(env.TEMPORAL_TLS_KEY)]);
  return { clientCertPair: { crt, key } };
}

export default fp(
  async (fastify) => {
    const { env } = fastify.appConfig;
    const connection = await Connection.connect({ address: env.TEMPORAL_ADDRESS, tls: await tlsFromEnv(env) });
    fastify.decorate('temporal', new Client({ connection, namespace: env.TEMPORAL_NAMESPACE }));
    fastify.addHook('onClose', async () => {
      await connection.close();
    });
  },
  { name: 'temporal', dependencies: ['app-config'] },
);
