/**
 * Decorates `fastify.artifacts`: the artifact store at ARTIFACT_ROOT, which the API touches
 * only to delete the copies of feedback a run made when that feedback is deleted (issue 17).
 * The workers write the store; on one machine (or a shared volume) this is the same folder.
 */
import fp from 'fastify-plugin';
import { LocalArtifactStore, type ArtifactStore } from '../../../storage/artifact-store';

declare module 'fastify' {
  interface FastifyInstance {
    artifacts: ArtifactStore;
  }
}

export default fp(
  async (fastify) => {
    fastify.decorate('artifacts', new LocalArtifactStore(fastify.appConfig.env.ARTIFACT_ROOT));
  },
  { name: 'artifacts', dependencies: ['app-config'] },
);
