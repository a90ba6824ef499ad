/**
 * GPU worker entry point: the training activities (reward model, SFT, PPO chunks, policy
 * export) on the `rlhf-gpu` queue, one at a time per process (a second training job would
 * only fight for the same accelerator and memory). Logs the TensorFlow.js backend it got
 * (tfjs-node-gpu → tfjs-node → WASM → CPU) before polling:
 *   npx tsx worker/gpu.ts
 * Logs JSON lines (pino) at LOG_LEVEL; WORKER_METRICS_PORT serves /metrics, with training gauges per
 * active run (worker/metrics.ts).
 */
import { createTrainingActivities } from '../activities';
import { runEventLog } from '../activities/run-events';
import { loadEnv } from '../common/env';
import { TaskQueues } from '../common/names';
import { backendStatus, initBackend } from '../ml/backend';
import { createQueueWorker, openResources, runUntilShutdown } from './create-worker';
import { TrainingGauges } from './metrics';
import { failStartup, setUpObservability } from './observability';

export async function main(): Promise<void> {
  const env = loadEnv();
  const { logger, metrics } = await setUpObservability(env, 'gpu');
  // initBackend's own line would repeat this one; the worker states it once, with its role.
  const backend = await initBackend({ prefer: env.RLHF_BACKEND, log: () => undefined });
  logger.info({ backend: backend.name, package: backend.package, status: backendStatus(backend) }, `gpu worker: tfjs backend ${backendStatus(backend)}${backend.reason ? `; fell back because ${backend.reason}` : ''}`);
  const resources = await openResources(env);
  const worker = await createQueueWorker({
    connection: resources.connection,
    namespace: env.TEMPORAL_NAMESPACE,
    taskQueue: TaskQueues.gpu,
    activities: createTrainingActivities({
      orm: resources.orm,
      store: resources.store,
      runEvents: runEventLog(resources.orm),
      keepCheckpoints: env.RLHF_KEEP_CHECKPOINTS,
      ...(metrics ? { trainingMetrics: new TrainingGauges(metrics.registry, backend.name) } : {}),
    }),
    workflows: false,
    tuning: { maxConcurrentActivityTaskExecutions: 1 },
  });
  logger.info(`gpu worker polling ${TaskQueues.gpu} on ${env.TEMPORAL_ADDRESS} (namespace ${env.TEMPORAL_NAMESPACE})`);
  await runUntilShutdown(worker, resources);
}

if (require.main === module) {
  main().catch(failStartup);
}
