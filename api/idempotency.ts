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

/**
 * What identifies "the same request": method, route, path parameters and body. A streamed body
 * (the NDJSON import) is identified by the sha256 of its decoded bytes instead, known only once
 * it has been read.
 */
export function requestHash(request: FastifyRequest, body: unknown = request.body): string {
  return createHash('sha256')
    .update(JSON.stringify([request.method, request.routeOptions.url, request.params, body]))
    .digest('hex');
}

function isUniqueViolation(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { name?: unknown }).name === 'UniqueConstraintViolationException';
}

/** A write whose request hash may only be known after its body has been consumed (a streamed body). */
export interface KeyedWrite {
  /** The request's hash without writing anything (may read the whole body): used when the key is already taken. */
  hashOnly(): Promise<string>;
  /** The write, inside the transaction given; returns its answer and the request's hash. */
  write(repos: Repositories, em: EntityManager): Promise<WriteAnswer & { hash: string }>;
}

/** The stored answer for the key, 422 if it belongs to another request, or null when the key is free. */
async function storedAnswer(request: FastifyRequest, key: string, hash: () => Promise<string>): Promise<IdempotentAnswer | null> {
  const stored = await request.repos.idempotency.find(identityOf(request).projectId, key);
  if (!stored) return null;
  if (stored.requestHash !== (await hash())) throw new IdempotencyKeyReusedError();
  return { status: stored.status, body: stored.response, replayed: true };
}

/**
 * Runs `keyed.write` at most once per Idempotency-Key (the caller checked the header is present):
 * the write and its record commit in one transaction.
 */
export async function idempotentKeyedWrite(request: FastifyRequest, key: string, keyed: KeyedWrite): Promise<IdempotentAnswer> {
  const { projectId } = identityOf(request);
  const earlier = await storedAnswer(request, key, keyed.hashOnly);
  if (earlier) return earlier;
  let hash: string | undefined;
  try {
    const answer = await request.em.transactional(async (tx) => {
      const repos = createRepositories(tx);
      const { hash: written, ...result } = await keyed.write(repos, tx);
      hash = written;
      await repos.idempotency.insert({ projectId, key, requestHash: written, status: result.status, response: result.body });
      return result;
    });
    return { ...answer, replayed: false };
  } catch (err) {
    // A concurrent request with this key committed first; our transaction (rows included) rolled back.
    if (isUniqueViolation(err) && hash !== undefined) {
      const known = hash;
      const winner = await storedAnswer(request, key, async () => known);
      if (winner) return winner;
    }
    throw err;
  }
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
  const hash = requestHash(request);
  return idempotentKeyedWrite(request, key, {
    hashOnly: async () => hash,
    write: async (repos, em) => ({ ...(await write(repos, em)), hash }),
  });
}
