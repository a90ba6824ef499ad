/**
 * A GPU-queue worker process for bench/recovery.ts, which kills it with SIGKILL mid-PPO and
 * starts another. Like worker/gpu.ts (same activities, one at a time), plus the two knobs
 * the bench varies: the task queue and the PPO checkpoint interval. The activities' log goes
 * to stdout as JSON lines `{ t, message, attrs }` (t = epoch ms) so the bench can see where a
 * resumed chunk restarted. Started as `node --import tsx bench/lib/gpu-worker-child.ts` so the
 * worker is the very process that is killed (no wrapper that could leave it running).
 * Environment: DATABASE_URL, TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, ARTIFACT_ROOT,
 * BENCH_GPU_QUEUE, BENCH_CHECKPOINT_EVERY.
 */
import { NativeConnection, Worker } from '@temporalio/worker';
import { createTrainingActivities, type ActivityLogger } from '../../activities';
import { loadEnv } from '../../common/env';
import { createOrm } from '../../db/orm';
import { initBackend } from '../../ml/backend';
import { LocalArtifactStore } from '../../storage/artifact-store';
import { installQuietRuntime } from './training-run';

const emit = (message: string, attrs: Record<string, unknown> = {}) => process.stdout.write(`${JSON.stringify({ t: Date.now(), message, attrs })}\n`);
const jsonLog: ActivityLogger = { info: emit, warn: emit };

async function main(): Promise<void> {
  const env = loadEnv();
  const queue = process.env.BENCH_GPU_QUEUE;
  const every = Number(process.env.BENCH_CHECKPOINT_EVERY ?? '1');
  if (!queue || !env.DATABASE_URL || !Number.isInteger(every) || every < 1) {
    throw new Error('BENCH_GPU_QUEUE, DATABASE_URL and a positive integer BENCH_CHECKPOINT_EVERY are required');
  }
  installQuietRuntime();
  await initBackend({ log: () => undefined });
  const orm = await createOrm(env.DATABASE_URL);
  const connection = await NativeConnection.connect({ address: env.TEMPORAL_ADDRESS });
  const worker = await Worker.create({
    connection,
    namespace: env.TEMPORAL_NAMESPACE,
    taskQueue: queue,
    activities: createTrainingActivities({ orm, store: new LocalArtifactStore(env.ARTIFACT_ROOT), log: jsonLog, checkpointEvery: every }),
    maxConcurrentActivityTaskExecutions: 1,
  });
  emit('worker ready', { pid: process.pid, queue, checkpointEvery: every });
  try {
    await worker.run();
  } finally {
    await connection.close();
    await orm.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
