/**
 * The PPO update with frozen base weights skipping their gradients (ml/model.ts `trainable`,
 * ml/layers.ts `frozen`) trains exactly what it trained when every weight was differentiated
 * (the path before that change, kept as bench/lib/workload.ts everyWeightDifferentiated, the
 * baseline of bench/throughput.ts's paired speed comparison).
 */
import { initBackend } from '../../ml/backend';
import { derivePpoSizes } from '../../spec/run-config';
import { AdamW } from '../../ml/optimizer';
import { runPpoEpochs } from '../../ml/ppo-update';
import { GptModel } from '../../ml/model';
import { Rng } from '../../ml/rng';
import { tf } from '../../ml/tf';
import { everyWeightDifferentiated, makeUpdateBatch, ppoUpdater, presetSpec, type WorkloadSpec } from '../../bench/lib/workload';

const SEED = 515;

/** `quick`'s policy (2 layers, width 32, LoRA r=4) on 8 rows of 6 + 6 tokens, 2 epochs of minibatch 4. */
function spec(): WorkloadSpec {
  const base = presetSpec('quick', SEED);
  return {
    ...base,
    ppo: { ...base.ppo, batchSize: 8, miniBatchSize: 4, ppoEpochs: 2 },
    workload: { ...base.workload, promptLength: 6, newTokens: 6 },
  };
}

/** Every weight after one PPO update from seed SEED, the policy optionally seen through `view`. */
async function weightsAfterUpdate(view: (p: GptModel) => GptModel): Promise<Record<string, Float32Array>> {
  const s = spec();
  const rng = new Rng(SEED);
  const policy = GptModel.create(s.model, rng);
  // lora_B starts at 0, so lora_A's gradient would be 0 on both paths; a first update makes it non-zero.
  const batch = makeUpdateBatch(policy, s, s.workload.promptLength, s.workload.promptLength + s.workload.newTokens, rng);
  const updater = ppoUpdater(view(policy), s, rng);
  await updater.update(batch);
  await updater.update(batch);
  const weights = policy.getWeights();
  updater.dispose();
  tf.dispose(Object.values(batch));
  policy.dispose();
  return weights;
}

describe.each(['cpu', 'wasm'] as const)('PPO update on %s: frozen-weight path against every weight differentiated', (backend) => {
  beforeAll(async () => {
    if (backend === 'cpu') await tf.setBackend('cpu');
    else expect((await initBackend({ prefer: 'wasm', log: () => undefined })).name).toBe('wasm');
  });

  it('trains bit-identical LoRA and value-head weights and leaves the base untouched', async () => {
    const frozenPath = await weightsAfterUpdate((p) => p);
    const oldPath = await weightsAfterUpdate(everyWeightDifferentiated);
    const initial = GptModel.create(spec().model, new Rng(SEED));
    const start = initial.getWeights();
    const groupOf = new Map(initial.namedVariables().map((n) => [n.name, n.group]));
    initial.dispose();
    expect(Object.keys(frozenPath).sort()).toEqual(Object.keys(oldPath).sort());
    for (const [name, w] of Object.entries(frozenPath)) {
      expect({ name, w }).toEqual({ name, w: oldPath[name] });
      if (groupOf.get(name) === 'base') expect({ name, w }).toEqual({ name, w: start[name] });
    }
    // The update did train adapters and head, so the equality above compares real gradients.
    for (const name of ['h.0.attn.c_attn.lora_A', 'h.1.mlp.c_proj.lora_B', 'v_head.weight']) {
      expect(frozenPath[name]).not.toEqual(start[name]);
    }
  });
});

it('the baseline view really differentiates the frozen base (so the bench compares the old work)', () => {
  const s = spec();
  const policy = GptModel.create(s.model, new Rng(SEED));
  const byName = new Map(policy.namedVariables().map((n) => [n.name, n.variable]));
  const [wte, head] = [byName.get('wte.weight')!, byName.get('v_head.weight')!];
  const ids = tf.tensor2d([[1, 2, 3, 4]], [1, 4], 'int32');
  const mask = tf.ones([1, 4]) as tf.Tensor2D;
  const gradNames = (m: GptModel): string[] => {
    const { value, grads } = tf.variableGrads(() => {
      const out = m.forward(ids, mask, { trainable: 'lora' });
      return tf.add(tf.sum(out.logits), tf.sum(out.values)) as tf.Scalar;
    }, [wte, head]);
    const names = Object.keys(grads).sort();
    tf.dispose([value, ...Object.values(grads)]);
    return names;
  };
  expect(gradNames(policy)).toEqual([head.name]);
  expect(gradNames(everyWeightDifferentiated(policy))).toEqual([wte.name, head.name].sort());
  tf.dispose([ids, mask]);
  policy.dispose();
});

it('a non-finite gradient in one minibatch skips that optimizer step, counts it, and leaves every weight finite', async () => {
  await tf.setBackend('cpu');
  const s = spec(); // batch 8, minibatch 4, 2 epochs: 2 backward batches per epoch, 4 steps in all
  expect(s.ppo.gradientAccumulationSteps).toBe(1);
  const rng = new Rng(SEED);
  const policy = GptModel.create(s.model, rng);
  const batch = makeUpdateBatch(policy, s, s.workload.promptLength, s.workload.promptLength + s.workload.newTokens, rng);
  // Row 3's advantages become NaN: whichever minibatch holds it gets a NaN loss and NaN gradients.
  const adv = batch.advantages.arraySync();
  adv[3] = adv[3].map(() => NaN);
  tf.dispose(batch.advantages);
  batch.advantages = tf.tensor2d(adv);
  const vars = policy.trainableVariables('lora');
  const optimizer = new AdamW(vars, s.ppo.optim);
  const stats = await runPpoEpochs(
    { policy, vars, optimizer, ppo: s.ppo, sizes: derivePpoSizes(s.ppo), temperature: 1, learningRateAt: () => 1e-3 },
    batch,
    rng,
    0,
  );
  // Once per epoch the NaN row's backward batch is skipped; the other one steps.
  expect(stats.nonFiniteSkippedSteps).toBe(s.ppo.ppoEpochs);
  expect(stats.optimizerSteps).toBe(s.ppo.ppoEpochs);
  expect(optimizer.stepsTaken).toBe(s.ppo.ppoEpochs);
  const weights = policy.getWeights();
  for (const [name, w] of Object.entries(weights)) expect({ name, finite: w.every(Number.isFinite) }).toEqual({ name, finite: true });
  // The finite steps did train: the adapters moved.
  expect(weights['h.1.mlp.c_proj.lora_B'].some((x) => x !== 0)).toBe(true);
  optimizer.dispose();
  tf.dispose(Object.values(batch));
  policy.dispose();
});
