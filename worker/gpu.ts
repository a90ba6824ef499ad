/**
 * GPU worker entry point: the training activities (reward model, SFT, PPO chunks, policy
 * export) on the `rlhf-gpu` queue, one at a time per process (a second training job would
 * only fight for the same accelerator and memory). Logs the TensorFlow.js backend it got
 * (tfjs-node-gpu → tfjs-node → WASM → CPU) before polling:
 *   npx tsx worker/gpu.ts
 */
import { createTrainingActivities } from '../activities';
import { runEventLog } from '../activities/run-events';
import { loadEnv } from '../common/env';
import { TaskQueues } from '../common/names';
import { backendStatus, initBackend } from '../ml/backend';
import { createQueueWorker, openResources, runUntilShutdown } from './create-worker';

export async function main(): Promise<void> {
  const env = loadEnv();
  // initBackend's own line would repeat this one; the worker states it once, with its role.
  const backend = await initBackend({ prefer: env.RLHF_BACKEND, log: () => undefined });
  console.info(`gpu worker: tfjs backend ${backendStatus(backend)}${backend.reason ? `; fell back because ${backend.reason}` : ''}`);
  const resources = await openResources(env);
  const worker = await createQueueWorker({
    connection: resources.connection,
    namespace: env.TEMPORAL_NAMESPACE,
    taskQueue: TaskQueues.gpu,
    activities: createTrainingActivities({ orm: resources.orm, store: resources.store, runEvents: runEventLog(resources.orm) }),
    workflows: false,
    tuning: { maxConcurrentActivityTaskExecutions: 1 },
  });
  console.info(`gpu worker polling ${TaskQueues.gpu} on ${env.TEMPORAL_ADDRESS} (namespace ${env.TEMPORAL_NAMESPACE})`);
  await runUntilShutdown(worker, resources);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
