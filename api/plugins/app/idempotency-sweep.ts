/**
 * Deletes Idempotency-Key records older than IDEMPOTENCY_KEY_TTL_HOURS (api/idempotency.ts):
 * once before the app starts serving, then hourly. Every API process sweeps; the DELETE is idempotent,
 * so several at once only repeat each other's work. A failed sweep (Postgres down) is logged
 * and retried at the next tick; it never takes the API down.
 */
import fp from 'fastify-plugin';
import type { MikroORM } from '@mikro-orm/postgresql';
import { IdempotencyRepository } from '../../../db/repositories';

const SWEEP_EVERY_MS = 60 * 60 * 1000;
const HOUR_MS = 60 * 60 * 1000;

/** Deletes the records older than `ttlHours` as of `now`; returns how many. */
export async function sweepIdempotencyRecords(orm: MikroORM, ttlHours: number, now: Date = new Date()): Promise<number> {
  return new IdempotencyRepository(orm.em.fork()).deleteCreatedBefore(new Date(now.getTime() - ttlHours * HOUR_MS));
}

export default fp(
  async (fastify) => {
    const ttlHours = fastify.appConfig.env.IDEMPOTENCY_KEY_TTL_HOURS;
    const sweep = async () => {
      try {
        const deleted = await sweepIdempotencyRecords(fastify.orm, ttlHours);
        if (deleted > 0) fastify.log.info({ deleted, ttlHours }, 'expired idempotency records deleted');
      } catch (err) {
        fastify.log.warn({ err }, 'idempotency record sweep failed; next try in an hour');
      }
    };
    let timer: NodeJS.Timeout | undefined;
    fastify.addHook('onReady', async () => {
      await sweep();
      // unref: a pending sweep never keeps a closing process alive.
      timer = setInterval(() => void sweep(), SWEEP_EVERY_MS).unref();
    });
    fastify.addHook('onClose', async () => {
      if (timer) clearInterval(timer);
    });
  },
  { name: 'idempotency-sweep', dependencies: ['app-config', 'orm'] },
);
