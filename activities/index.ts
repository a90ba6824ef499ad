/**
 * The activity factory. Workers register `createDataActivities` (CPU queue) or
 * `createTrainingActivities` (GPU queue); the workflow proxies the union type
 * `ReturnType<typeof createActivities>` and routes each call by task queue.
 */
import { createDataActivities } from './data';
import type { ActivityDeps } from './deps';
import { createTrainingActivities } from './training';

export type { ActivityDeps, ActivityLogger, TrainingMetricsSink, TrainingUpdateSample } from './deps';
export { createDataActivities } from './data';
export { createTrainingActivities } from './training';

/** Every activity, for a single worker that serves both queues' functions (tests, demos). */
export function createActivities(deps: ActivityDeps) {
  return { ...createDataActivities(deps), ...createTrainingActivities(deps) };
}
