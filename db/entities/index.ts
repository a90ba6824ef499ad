/** Every entity schema, in one list for the ORM config. */
import { FeedbackSchema } from './feedback';
import { PolicyVersionSchema } from './policy-version';
import { TrainingRunSchema } from './training-run';

export const entities = [FeedbackSchema, PolicyVersionSchema, TrainingRunSchema];

export * from './feedback';
export * from './policy-version';
export * from './training-run';
