import { tf } from '../../ml/tf';
import { initBackend } from '../../ml/backend';
import { resolveRunConfig, type RunConfig } from '../../spec/run-config';
import { Rng } from '../../ml/rng';
import { ByteTokenizer } from '../../ml/tokenizer';
import { GptModel } from '../../ml/model';
import { encodeExample, encodePrompt, trainingBatch } from '../../ml/dataset';
import { type FeedbackExample } from '../../spec/train-val-split';
import { evaluateSftLoss, maskedTokenCrossEntropy, selectSftRows, sftBatchLoss, trainSft } from '../../ml/sft';

const SEED = 777;
const tok = new ByteTokenizer();

beforeAll(async () => {
  await initBackend({ log: () => undefined });
});

/** Naive −log softmax(row)[label]. */
function nll(row: number[], label: number): number {
  const m = Math.max(...row);
  const lse = m + Math.log(row.reduce((s, x) => s + Math.exp(x - m), 0));
  return lse - row[label];
}

describe('maskedTokenCrossEntropy', () => {
  it('averages −log p(label) over the masked positions only', () => {
    const logits = [
      [
        [0.5, -1, 2],
        [1, 1, 1],
        [3, 0, -2],
      ],
    ]; // [1, 3, 3]
    const labels = [[2, 0, 1]];
    const mask = [[0, 1, 1]];
    const loss = maskedTokenCrossEntropy(tf.tensor3d(logits), tf.tensor2d(labels, undefined, 'int32'), tf.tensor2d(mask));
    const expected = (nll(logits[0][1], 0) + nll(logits[0][2], 1)) / 2;
    expect(loss.dataSync()[0]).toBeCloseTo(expected, 5);
    loss.dispose();
  });

  it('does not change when logits at masked-off positions change', () => {
    const rng = new Rng(1);
    const base = Array.from(rng.normalArray(2 * 4 * 5, 1)); // [2, 4, 5]
    const changed = base.map((x, i) => (Math.floor(i / 5) % 4 === 0 ? x + 10 * rng.normal() : x)); // position 0 of each row
    const labels = tf.tensor2d([1, 2, 3, 4, 0, 1, 2, 3], [2, 4], 'int32');
    const mask = tf.tensor2d([0, 1, 1, 0, 0, 1, 0, 0], [2, 4]);
    const a = maskedTokenCrossEntropy(tf.tensor3d(base, [2, 4, 5]), labels, mask).dataSync()[0];
    const b = maskedTokenCrossEntropy(tf.tensor3d(changed, [2, 4, 5]), labels, mask).dataSync()[0];
    expect(b).toBe(a);
    const c = maskedTokenCrossEntropy(tf.tensor3d(changed, [2, 4, 5]), labels, tf.onesLike(mask) as tf.Tensor2D).dataSync()[0];
    expect(c).not.toBe(a);
  });
});

function tinyConfig(): RunConfig {
  const cfg = resolveRunConfig('quick', { seed: SEED });
  cfg.policyModel = { ...cfg.policyModel, nLayer: 1, nEmbd: 16, blockSize: 32 };
  return cfg;
}

describe('sftBatchLoss', () => {
  it('counts the response tokens and the final EOS only (hand check on a tiny batch)', () => {
    const cfg = tinyConfig();
    const policy = GptModel.create(cfg.policyModel, new Rng(SEED));
    try {
      const rows = [
        { prompt: 'ab', response: 'c' },
        { prompt: 'x', response: 'yz' },
      ];
      const seqs = rows.map((r) => encodeExample(tok, r, cfg.policyModel.blockSize));
      // Row 0: [BOS a b c EOS] (T = 5); row 1: [BOS x y z EOS]. Targets counted: c, EOS / y, z, EOS.
      const loss = sftBatchLoss(policy, seqs, tok.padId).dataSync()[0];

      const batch = trainingBatch(seqs, tok.padId);
      const out = policy.forward(batch.ids, batch.mask, { adapters: false });
      const logits = out.logits.arraySync() as number[][][]; // [B, T, V]
      let sum = 0;
      let n = 0;
      seqs.forEach((s, b) => {
        for (let t = s.promptLength - 1; t < s.ids.length - 1; t++) {
          sum += nll(logits[b][t], s.ids[t + 1]);
          n += 1;
        }
      });
      expect(n).toBe(5);
      expect(loss).toBeCloseTo(sum / n, 4);
      tf.dispose([batch.ids, batch.mask, batch.responseMask, batch.labelMask, out.logits, out.values, out.hidden]);
    } finally {
      policy.dispose();
    }
  });
});

describe('selectSftRows', () => {
  it('keeps rows whose normalised score reaches the threshold', () => {
    const rows: FeedbackExample[] = [0, 5, 10].map((score) => ({ prompt: 'p', response: String(score), score }));
    expect(selectSftRows(rows, -1).length).toBe(3);
    expect(selectSftRows(rows, 0).map((r) => r.score)).toEqual([5, 10]);
    expect(selectSftRows(rows, 0.5).map((r) => r.score)).toEqual([10]);
  });
});

/** Greedy decoding by repeated full forward passes (independent of ml/sampling). */
function greedyResponse(policy: GptModel, prompt: string, maxNew: number): string {
  const ids = encodePrompt(tok, prompt, 16);
  const out: number[] = [];
  for (let i = 0; i < maxNew; i++) {
    const next = tf.tidy(() => {
      const x = tf.tensor2d([ids], undefined, 'int32');
      const { logits } = policy.forward(x, tf.cast(tf.onesLike(x), 'float32'), { adapters: false }); // [1, T, V]
      const T = logits.shape[1];
      return tf.argMax(tf.reshape(tf.slice(logits, [0, T - 1, 0], [1, 1, -1]), [-1])).dataSync()[0];
    });
    if (next === tok.eosId) break;
    ids.push(next);
    out.push(next);
  }
  return tok.decode(out);
}

describe('trainSft', () => {
  it('stops between batches when shouldStop() turns true', async () => {
    const cfg = tinyConfig();
    cfg.sft.batchSize = 2;
    const rows: FeedbackExample[] = ['ab', 'cd', 'ef', 'gh', 'ij', 'kl'].map((response) => ({ prompt: 'p', response, score: 1 }));
    const policy = GptModel.create(cfg.policyModel, new Rng(SEED));
    let calls = 0;
    try {
      const result = await trainSft({ policy, rows, config: cfg, tokenizer: tok, rng: new Rng(1), shouldStop: () => ++calls > 4 });
      expect(result.stopped).toBe(true);
      expect(result.steps).toBe(4); // 3 batches in epoch 0, 1 in epoch 1
      expect(Number.isFinite(result.finalLoss)).toBe(true);
    } finally {
      policy.dispose();
    }
  });

  it('trains nothing when minNormalizedScore filters every row out', async () => {
    const cfg = tinyConfig();
    cfg.sft.minNormalizedScore = 2; // above the normalised maximum of 1
    const rows: FeedbackExample[] = [0, 1].map((score) => ({ prompt: 'p', response: 'r', score }));
    const policy = GptModel.create(cfg.policyModel, new Rng(SEED));
    try {
      const before = policy.getWeights();
      const result = await trainSft({ policy, rows, config: cfg, tokenizer: tok, rng: new Rng(1) });
      expect(result).toMatchObject({ steps: 0, rowsUsed: 0 });
      expect(policy.getWeights()).toEqual(before);
    } finally {
      policy.dispose();
    }
  });

  it('lowers the response-token loss and makes the policy reproduce a trained response', async () => {
    const cfg = resolveRunConfig('quick', { seed: SEED });
    cfg.sft.epochs = 150;
    cfg.sft.batchSize = 8;
    const rows: FeedbackExample[] = ['sun', 'moon', 'star', 'tree', 'river', 'cloud', 'stone', 'bird'].map((word, i) => ({
      prompt: `Q${i}: `,
      response: word,
      score: 1,
    }));
    const policy = GptModel.create(cfg.policyModel, new Rng(SEED));
    try {
      const before = evaluateSftLoss(policy, tok, rows, 8);
      const progress: number[] = [];
      const tensorCounts: number[] = [];
      const result = await trainSft({
        policy,
        rows,
        config: cfg,
        tokenizer: tok,
        rng: new Rng(SEED),
        onProgress: (p) => {
          progress.push(p.loss);
          tensorCounts.push(tf.memory().numTensors);
        },
      });
      const after = evaluateSftLoss(policy, tok, rows, 8);
      console.info(
        `[sft] loss ${before.toFixed(3)} → ${after.toFixed(3)} in ${result.steps} steps, ${Math.round(result.tokensPerSecond)} tokens/s`,
      );
      expect(result.steps).toBe(150);
      expect(result.rowsUsed).toBe(8);
      expect(progress.length).toBe(150);
      expect(new Set(tensorCounts).size).toBe(1);
      expect(after).toBeLessThan(before / 4);
      expect(greedyResponse(policy, 'Q3: ', 10)).toBe('tree');
    } finally {
      policy.dispose();
    }
  });
});
