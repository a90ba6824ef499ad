/**
 * Project scoping of route subjects. An agent, and through it its feedback, runs and policy
 * versions, is visible only to keys of the project that owns it; for any other key it does
 * not exist (404 with the same message as an unknown id, so answers reveal nothing).
 */
import type { FastifyRequest } from 'fastify';
import type { TrainingRun } from '../db/entities';
import type { ApiKeyIdentity, Repositories } from '../db/repositories';
import { NotFoundError } from './errors';

/** The request's identity; routes that call this are never public. */
export function identityOf(request: FastifyRequest): ApiKeyIdentity {
  if (!request.auth) throw new Error(`route ${request.routeOptions.url} reached its handler without an identity`);
  return request.auth;
}

export function agentNotFound(agentId: string): NotFoundError {
  return new NotFoundError(`agent ${agentId} not found`, 'agentId');
}

/**
 * The agent's owning project, or null for an unknown agent. Known owners come from the process's
 * cache (api/plugins/app/lookups.ts: an owner never changes once set); `repos` reads in the
 * caller's transaction when it has one.
 */
export async function ownerOf(request: FastifyRequest, agentId: string, repos: Repositories = request.repos): Promise<string | null> {
  const { owners } = request.server.lookups;
  const cached = owners.get(agentId);
  if (cached !== undefined) return cached;
  const owner = await repos.agents.ownerOf(agentId);
  if (owner !== null) owners.set(agentId, owner);
  return owner;
}

/** Throws 404 unless the request's project owns the agent. */
export async function requireOwnedAgent(request: FastifyRequest, agentId: string): Promise<void> {
  if ((await ownerOf(request, agentId)) !== identityOf(request).projectId) throw agentNotFound(agentId);
}

/** The run, when it exists and its agent belongs to the request's project; 404 otherwise. */
export async function loadOwnedRun(request: FastifyRequest, runId: string): Promise<TrainingRun> {
  const run = await request.repos.trainingRuns.get(runId);
  if (!run || !(await request.repos.agents.isOwnedBy(run.agentId, identityOf(request).projectId))) {
    throw new NotFoundError(`training run ${runId} not found`, 'runId');
  }
  return run;
}
