/** The repositories of one unit of work: all share the EntityManager they are built with. */
import type { EntityManager } from '@mikro-orm/postgresql';
import { AgentRepository } from './agent-repository';
import { DeploymentRepository } from './deployment-repository';
import { FeedbackRepository } from './feedback-repository';
import { GenerationRequestRepository } from './generation-request-repository';
import { IdempotencyRepository } from './idempotency-repository';
import { PolicyVersionRepository } from './policy-version-repository';
import { ProjectRepository } from './project-repository';
import { RunEventRepository } from './run-event-repository';
import { TrainingRunRepository } from './training-run-repository';

export interface Repositories {
  projects: ProjectRepository;
  agents: AgentRepository;
  feedback: FeedbackRepository;
  idempotency: IdempotencyRepository;
  policyVersions: PolicyVersionRepository;
  trainingRuns: TrainingRunRepository;
  runEvents: RunEventRepository;
  deployments: DeploymentRepository;
  generationRequests: GenerationRequestRepository;
}

/** Pass a forked EntityManager (one per request / per activity). */
export function createRepositories(em: EntityManager): Repositories {
  return {
    projects: new ProjectRepository(em),
    agents: new AgentRepository(em),
    feedback: new FeedbackRepository(em),
    idempotency: new IdempotencyRepository(em),
    policyVersions: new PolicyVersionRepository(em),
    trainingRuns: new TrainingRunRepository(em),
    runEvents: new RunEventRepository(em),
    deployments: new DeploymentRepository(em),
    generationRequests: new GenerationRequestRepository(em),
  };
}

export * from './agent-repository';
export * from './deployment-repository';
export * from './feedback-repository';
export * from './generation-request-repository';
export * from './idempotency-repository';
export * from './policy-version-repository';
export * from './project-repository';
export * from './run-event-repository';
export * from './training-run-repository';
