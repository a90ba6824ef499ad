/** Listens until SIGINT/SIGTERM, then closes the app (its onClose hooks: database, models) and exits. Shared by the API and serve/. */
import type { FastifyInstance } from 'fastify';

export async function listenUntilSignalled(fastify: FastifyInstance, host: string, port: number): Promise<void> {
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
  await fastify.listen({ host, port });
}
