/**
 * Decorates `fastify.lookups`: per-process caches of the two reads every feedback write made
 * before its insert (found by profiling bench/api-load.ts; bench/RESULTS.md §7):
 *  - `identities`: API key → identity, for AUTH_CACHE_TTL_MS. Keyed by sha256 of the presented
 *    key, so no secret is kept. Only valid keys are cached (a new key works at once); a revoked
 *    key keeps working on a process for at most AUTH_CACHE_TTL_MS after its revocation.
 *  - `owners`: agent id → owning project, with no expiry. Safe because an agent's owner never
 *    changes once set (db/repositories/agent-repository.ts: claimed once, never updated or
 *    deleted); only known owners are cached, so an unknown agent is still claimed in its
 *    write's transaction. Should agents ever be deleted or moved, this must expire too.
 * Both are bounded (oldest entry evicted), so memory does not grow with the number of keys/agents.
 */
import fp from 'fastify-plugin';
import type { ApiKeyIdentity } from '../../../db/repositories';
import { TtlCache } from '../../ttl-cache';

/** Entries per cache: far more keys and agents than one process serves at once, a few MB at most. */
const MAX_ENTRIES = 50_000;

export interface Lookups {
  identities: TtlCache<ApiKeyIdentity>;
  owners: TtlCache<string>;
}

declare module 'fastify' {
  interface FastifyInstance {
    lookups: Lookups;
  }
}

export default fp(
  async (fastify) => {
    fastify.decorate('lookups', {
      identities: new TtlCache<ApiKeyIdentity>(fastify.appConfig.env.AUTH_CACHE_TTL_MS, MAX_ENTRIES),
      owners: new TtlCache<string>(Number.POSITIVE_INFINITY, MAX_ENTRIES),
    });
  },
  { name: 'lookups', dependencies: ['app-config'] },
);
