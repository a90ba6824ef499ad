/**
 * Idempotent writes under a client's `Idempotency-Key` header (IETF draft
 * draft-ietf-httpapi-idempotency-key-header; the same contract as Stripe's API). A client that
 * got no answer, or a 503 (the database went away, possibly after the COMMIT was sent),
 * retries with the same key; the write then happens at most once:
 *  - first request with a key: the write and the record of its answer commit in ONE
 *    transaction, so the record exists exactly when the rows do;
 *  - a retry with the same key and the same request: the stored answer, marked
 *    `Idempotent-Replayed: true`, and nothing is written;
 *  - the same key on a different request (other route, agent or body): 422, nothing written;
 *  - two requests with one key at once: Postgres blocks the second on the primary key until
 *    the first commits, its insert then fails as a duplicate and it replays the first's answer.
 * Only successful answers are stored: a request that failed (404, 503) may be retried and run.
 * Keys are scoped to the API key's project.
 */
import { createHash } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { EntityManager } from '@mikro-orm/postgresql';
import { createRepositories, type Repositories } from '../db/repositories';
import { HttpError } from './errors';
import { identityOf } from './ownership';

export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key';
export const REPLAYED_HEADER = 'idempotent-replayed';

export interface WriteAnswer {
  status: number;
  body: Record<string, unknown>;
}

export interface IdempotentAnswer extends WriteAnswer {
  /** True when this is the stored answer of an earlier request with the same key. */
  replayed: boolean;
}

/** Thrown when a key already belongs to a different request. */
export class IdempotencyKeyReusedError extends HttpError {
  override readonly name = 'IdempotencyKeyReusedError';
  constructor() {
    super(422, 'idempotency_key_reused', 'this Idempotency-Key was already used for a different request; use a new key', IDEMPOTENCY_KEY_HEADER);
  }
}

/** What identifies "the same request": method, route, path parameters and body. */
export function requestHash(request: FastifyRequest): string {
  return createHash('sha256')
    .update(JSON.stringify([request.method, request.routeOptions.url, request.params, request.body]))
    .digest('hex');
}

function isUniqueViolation(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { name?: unknown }).name === 'UniqueConstraintViolationException';
}

/**
 * Runs `write` (given repositories and the EntityManager of one transaction) at most once per
 * Idempotency-Key. Without the header it simply runs the write.
 */
export async function idempotentWrite(
  request: FastifyRequest,
  write: (repos: Repositories, em: EntityManager) => Promise<WriteAnswer>,
): Promise<IdempotentAnswer> {
  const key = request.headers[IDEMPOTENCY_KEY_HEADER];
  if (typeof key !== 'string') return { ...(await write(request.repos, request.em)), replayed: false };
  const { projectId } = identityOf(request);
  const hash = requestHash(request);
  const replay = async (): Promise<IdempotentAnswer | null> => {
    const stored = await request.repos.idempotency.find(projectId, key);
    if (!stored) return null;
    if (stored.requestHash !== hash) throw new IdempotencyKeyReusedError();
    return { status: stored.status, body: stored.response, replayed: true };
  };
  const earlier = await replay();
  if (earlier) return earlier;
  try {
    const answer = await request.em.transactional(async (tx) => {
      const repos = createRepositories(tx);
      const result = await write(repos, tx);
      await repos.idempotency.insert({ projectId, key, requestHash: hash, status: result.status, response: result.body });
      return result;
    });
    return { ...answer, replayed: false };
  } catch (err) {
    // A concurrent request with this key committed first; our transaction (rows included) rolled back.
    if (isUniqueViolation(err)) {
      const winner = await replay();
      if (winner) return winner;
    }
    throw err;
  }
}
