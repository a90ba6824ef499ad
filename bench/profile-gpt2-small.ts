/**
 * Where GPT-2 small's workloads (bench/gpt2-small.ts) spend their time on the active backend:
 * tfjs kernel time per kernel name (tf.profile) for one forward (B=2, T=64), one LoRA training
 * step (B=1, T=64) and one decode step (B=4 after a 32-token prompt), with wall and CPU seconds.
 *   npx tsx bench/profile-gpt2-small.ts [--layers 12] [--top 12]
 * `--layers` shrinks the depth (width and vocabulary stay GPT-2 small's) for quicker looks.
 */
import { parseArgs } from 'node:util';
import { initBackend } from '../ml/backend';
import type { ModelConfig } from '../spec/run-config';
import { GptModel } from '../ml/model';
import { AdamW } from '../ml/optimizer';
import { Rng } from '../ml/rng';
import { maskedTokenCrossEntropy } from '../ml/sft';
import { tf } from '../ml/tf';
import { gradientStep } from '../ml/training-loop';

async function profileOf(label: string, top: number, fn: () => void): Promise<void> {
  fn(); // warm-up
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const prof = await tf.profile(() => {
    fn();
  });
  const wall = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  const byName = new Map<string, { ms: number; n: number }>();
  for (const k of prof.kernels) {
    const e = byName.get(k.name) ?? { ms: 0, n: 0 };
    e.ms += typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    e.n += 1;
    byName.set(k.name, e);
  }
  const total = [...byName.values()].reduce((a, b) => a + b.ms, 0);
  console.log(`\n${label}: wall ${wall.toFixed(3)} s (profiled), cpu ${((c.user + c.system) / 1e6).toFixed(3)} s, ${prof.kernels.length} kernels, ${total.toFixed(0)} ms kernel time`);
  for (const [name, e] of [...byName].sort((a, b) => b[1].ms - a[1].ms).slice(0, top)) {
    console.log(`  ${((100 * e.ms) / total).toFixed(1).padStart(5)} %  ${e.ms.toFixed(1).padStart(8)} ms  ${String(e.n).padStart(5)}×  ${name}`);
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { layers: { type: 'string', default: '12' }, top: { type: 'string', default: '12' } } });
  const info = await initBackend({ log: () => undefined });
  const cfg: ModelConfig = { vocabSize: 50257, blockSize: 1024, nLayer: Number(values.layers), nHead: 12, nEmbd: 768, dropout: 0, lora: { rank: 8, alpha: 16, dropout: 0 } };
  const top = Number(values.top);
  console.log(`backend ${info.name}, ${cfg.nLayer} layers`);
  const rng = new Rng(1);
  const model = GptModel.create(cfg, rng);
  const ids = (b: number, t: number) => tf.tensor2d(Array.from({ length: b * t }, () => rng.int(cfg.vocabSize - 1)), [b, t], 'int32');

  const fIds = ids(2, 64);
  const fMask = tf.ones([2, 64]) as tf.Tensor2D;
  await profileOf('forward B=2 T=64', top, () => {
    const o = model.forward(fIds, fMask);
    o.logits.dataSync();
    tf.dispose([o.logits, o.values, o.hidden]);
  });

  const vars = model.trainableVariables('lora');
  const opt = new AdamW(vars, { learningRate: 1e-4, warmupSteps: 0, decay: 'none', maxGradNorm: 1, weightDecay: 0, beta1: 0.9, beta2: 0.999, eps: 1e-8 });
  const tIds = ids(1, 64);
  const tMask = tf.ones([1, 64]) as tf.Tensor2D;
  const lossFn = (): tf.Scalar =>
    tf.tidy(() => {
      const { logits } = model.forward(tIds, tMask, { trainable: vars });
      const pred = tf.slice(logits, [0, 0, 0], [1, 63, cfg.vocabSize]) as tf.Tensor3D;
      return maskedTokenCrossEntropy(pred, tf.slice(tIds, [0, 1], [1, 63]) as tf.Tensor2D, tf.ones([1, 63]) as tf.Tensor2D);
    });
  await profileOf('LoRA train step B=1 T=64', top, () => {
    gradientStep({ vars, optimizer: opt, lossFn, maxGradNorm: 1, learningRate: 1e-4 });
  });

  const pIds = ids(4, 32);
  const pMask = tf.ones([4, 32]) as tf.Tensor2D;
  const { logits, state } = model.prefill(pIds, pMask);
  logits.dispose();
  const tok = tf.tensor1d([1, 2, 3, 4], 'int32');
  await profileOf('decode step B=4 (L≈32)', top, () => {
    model.decodeStep(tok, state).dataSync();
  });
  await profileOf('prefill B=4 P=32', top, () => {
    const p = model.prefill(pIds, pMask);
    p.logits.dataSync();
    p.logits.dispose();
    p.state.dispose();
  });
  state.dispose();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
