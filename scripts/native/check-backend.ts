/**
 * Loads a TensorFlow.js backend the way the workers do (ml/backend.ts, the project's one tfjs-core),
 * checks one matmul against its known answer and prints one status line:
 *   tensorflow 2.21.0 (@tensorflow/tfjs-node), intra-op threads 2
 * Exit 1 when the backend that loaded is not `--expect NAME` or the answer is wrong.
 * Used by provision-tensorflow.sh after a build and on its fast path.
 */
import { initBackend, backendStatus } from '../../ml/backend';
import { tf } from '../../ml/tf';

async function main(): Promise<void> {
  const i = process.argv.indexOf('--expect');
  const expect = i >= 0 ? process.argv[i + 1] : undefined;
  const info = await initBackend({ prefer: expect, log: () => undefined });
  if (expect !== undefined && info.name !== expect) {
    throw new Error(`expected backend ${expect}, got ${info.name}${info.reason ? ` (${info.reason})` : ''}`);
  }
  // [[1,2],[3,4]] · [[5,6],[7,8]] = [[19,22],[43,50]]
  const got = Array.from(await tf.matMul(tf.tensor2d([[1, 2], [3, 4]]), tf.tensor2d([[5, 6], [7, 8]])).data());
  if (got.join(',') !== '19,22,43,50') throw new Error(`matmul answered ${got.join(',')}`);
  process.stdout.write(`${backendStatus(info)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`[native] check failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
