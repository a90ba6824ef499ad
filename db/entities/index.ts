/** Every entity schema, in one list for the ORM config. */
import { AgentSchema } from './agent';
import { DeploymentChangeSchema } from './deployment-change';
import { ApiKeySchema } from './api-key';
import { FeedbackSchema } from './feedback';
import { GenerationRequestSchema } from './generation-request';
import { IdempotencyRecordSchema } from './idempotency-record';
import { PolicyVersionSchema } from './policy-version';
import { ProjectSchema } from './project';
import { RunEventSchema } from './run-event';
import { RunUpdateSchema } from './run-update';
import { TrainingRunSchema } from './training-run';

export const entities = [ProjectSchema, ApiKeySchema, AgentSchema, FeedbackSchema, PolicyVersionSchema, TrainingRunSchema, IdempotencyRecordSchema, RunEventSchema, RunUpdateSchema, DeploymentChangeSchema, GenerationRequestSchema];

export * from './agent';
export * from './api-key';
export * from './deployment-change';
export * from './feedback';
export * from './generation-request';
export * from './idempotency-record';
export * from './policy-version';
export * from './project';
export * from './run-event';
export * from './run-update';
export * from './training-run';
