/**
 * Decorates `fastify.serving`: the policy cache (serve/policy-cache.ts) and the generation
 * batcher (serve/generation-batcher.ts) of this process; both are disposed when it closes.
 */
import { randomInt } from 'node:crypto';
import fp from 'fastify-plugin';
import { Rng } from '../../ml/rng';
import { LocalArtifactStore } from '../../storage/artifact-store';
import { GenerationBatcher } from '../generation-batcher';
import { PolicyCache } from '../policy-cache';

export interface Serving {
  policies: PolicyCache;
  batcher: GenerationBatcher;
}

declare module 'fastify' {
  interface FastifyInstance {
    serving: Serving;
  }
}

export default fp(
  async (fastify) => {
    const { ARTIFACT_ROOT, SERVE_MODEL_BUDGET_MB, SERVE_MAX_BATCH_ROWS } = fastify.appConfig.env;
    const serving: Serving = {
      policies: new PolicyCache(new LocalArtifactStore(ARTIFACT_ROOT), SERVE_MODEL_BUDGET_MB * 1024 * 1024),
      // Unseeded requests: a fresh stream per process (seeded requests use their own, serve/generation-batcher.ts).
      batcher: new GenerationBatcher(SERVE_MAX_BATCH_ROWS, new Rng(randomInt(0, 2 ** 31 - 1))),
    };
    fastify.decorate('serving', serving);
    fastify.addHook('onClose', async () => serving.policies.clear());
  },
  { name: 'serving', dependencies: ['app-config'] },
);
