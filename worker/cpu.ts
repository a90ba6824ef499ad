/**
 * CPU worker entry point: workflow tasks and the data activities (config, load, split,
 * save, run status) on the `rlhf-cpu` queue. Run as many as you like:
 *   npx tsx worker/cpu.ts
 * Logs JSON lines (pino) at LOG_LEVEL; WORKER_METRICS_PORT serves /metrics (worker/metrics.ts).
 */
import { createDataActivities } from '../activities';
import { runEventLog } from '../activities/run-events';
import { loadEnv } from '../common/env';
import { TaskQueues } from '../common/names';
import { createQueueWorker, openResources, runUntilShutdown } from './create-worker';
import { failStartup, setUpObservability } from './observability';

export async function main(): Promise<void> {
  const env = loadEnv();
  const { logger } = await setUpObservability(env, 'cpu');
  const resources = await openResources(env);
  const worker = await createQueueWorker({
    connection: resources.connection,
    namespace: env.TEMPORAL_NAMESPACE,
    taskQueue: TaskQueues.cpu,
    activities: createDataActivities({
      orm: resources.orm,
      store: resources.store,
      runEvents: runEventLog(resources.orm),
      keepRunArtifacts: env.RLHF_KEEP_RUN_ARTIFACTS === '1',
    }),
    workflows: true,
  });
  logger.info(`cpu worker polling ${TaskQueues.cpu} on ${env.TEMPORAL_ADDRESS} (namespace ${env.TEMPORAL_NAMESPACE})`);
  await runUntilShutdown(worker, resources);
}

if (require.main === module) {
  main().catch(failStartup);
}
