import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { loadHfModelDir } from '../../ml/hf/load';
import { SafetensorsReader, writeSafetensors } from '../../ml/hf/safetensors';
import { tf } from '../../ml/tf';
import { FIXTURE_DIR, copyFixture, editJson, f32Bytes, logitsOf, maxAbsDiff, readExpectations, writeRawSafetensors, type FixtureExpectations } from './fixture';

/** The issue's parity bar: our forward pass against transformers' logits, max abs. */
const PARITY_TOLERANCE = 1e-4;

let expected: FixtureExpectations;
const scratch: string[] = [];
beforeAll(async () => {
  await tf.setBackend('cpu');
  expected = await readExpectations();
});
afterAll(async () => {
  await Promise.all(scratch.map((d) => fs.rm(d, { recursive: true, force: true })));
});

async function scratchCopy(prefix: string): Promise<string> {
  const dir = await copyFixture(prefix);
  scratch.push(dir);
  return dir;
}

/** Every tensor of the fixture's model.safetensors, as float32. */
async function fixtureTensors(): Promise<{ name: string; shape: number[]; data: Float32Array }[]> {
  const reader = await SafetensorsReader.open(path.join(FIXTURE_DIR, 'model.safetensors'));
  try {
    return await Promise.all(reader.names().map(async (name) => ({ name, shape: reader.entry(name)!.shape, data: await reader.readF32(name) })));
  } finally {
    await reader.close();
  }
}

describe('parity with transformers on the tiny-gpt2 fixture', () => {
  it('maps config.json onto ModelConfig, with default LoRA adapters on top', async () => {
    const { model, config, tokenizer, hfConfig } = await loadHfModelDir(FIXTURE_DIR);
    try {
      expect(config).toEqual({ vocabSize: 400, blockSize: 64, nLayer: 2, nHead: 4, nEmbd: 64, dropout: 0, lora: { rank: 8, alpha: 16, dropout: 0 } });
      expect(hfConfig.architectures).toEqual(['GPT2LMHeadModel']);
      expect(tokenizer.eosId).toBe(expected.special.eos_token_id);
      expect(model.parameterCount('lora')).toBeGreaterThan(0);
    } finally {
      model.dispose();
    }
  });

  it.each([
    ['adapters on (LoRA B = 0)', true],
    ['adapters off (reference policy)', false],
  ])('reproduces the fixture logits within 1e-4 max abs, %s', async (_label, adapters) => {
    const { model } = await loadHfModelDir(FIXTURE_DIR);
    try {
      const got = logitsOf(model, expected.input_ids, adapters);
      expect([got.length, got[0].length, got[0][0].length]).toEqual(expected.logits_shape);
      const diff = maxAbsDiff(got, expected.logits);
      expect(diff).toBeLessThanOrEqual(PARITY_TOLERANCE);
      // The bar is meaningful: the logits themselves are O(1), far from the tolerance.
      expect(Math.max(...expected.logits.flat(2).map(Math.abs))).toBeGreaterThan(1);
    } finally {
      model.dispose();
    }
  });

  it('loads with rank-0 LoRA and from vocab.json + merges.txt to the same logits', async () => {
    const { model, config, tokenizer } = await loadHfModelDir(FIXTURE_DIR, { lora: { rank: 0, alpha: 0, dropout: 0 }, tokenizer: 'vocab+merges' });
    try {
      expect(config.lora.rank).toBe(0);
      expect(tokenizer.spec.source.endsWith('vocab.json')).toBe(true);
      expect(maxAbsDiff(logitsOf(model, expected.input_ids), expected.logits)).toBeLessThanOrEqual(PARITY_TOLERANCE);
    } finally {
      model.dispose();
    }
  });

  it('loads a sharded checkpoint (index + shards) to the same logits', async () => {
    const dir = await scratchCopy('sharded');
    const tensors = await fixtureTensors();
    await fs.rm(path.join(dir, 'model.safetensors'));
    const weightMap: Record<string, string> = {};
    const shards = [tensors.slice(0, 10), tensors.slice(10, 20), tensors.slice(20)];
    for (const [i, shard] of shards.entries()) {
      const file = `model-0000${i + 1}-of-00003.safetensors`;
      await writeSafetensors(path.join(dir, file), shard, { format: 'pt' });
      for (const t of shard) weightMap[t.name] = file;
    }
    await fs.writeFile(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
    const { model } = await loadHfModelDir(dir);
    try {
      expect(maxAbsDiff(logitsOf(model, expected.input_ids), expected.logits)).toBeLessThanOrEqual(PARITY_TOLERANCE);
    } finally {
      model.dispose();
    }
  });

  it('accepts the older layout: names without `transformer.`, mask buffers, a tied lm_head', async () => {
    const dir = await scratchCopy('legacy');
    const tensors = (await fixtureTensors()).map((t) => ({ ...t, name: t.name.replace(/^transformer\./, '') }));
    const wte = tensors.find((t) => t.name === 'wte.weight')!;
    const buffers = [0, 1].map((i) => ({ name: `h.${i}.attn.bias`, shape: [1, 1, 64, 64], data: new Float32Array(64 * 64) }));
    await writeSafetensors(path.join(dir, 'model.safetensors'), [...tensors, ...buffers, { ...wte, name: 'lm_head.weight' }]);
    const { model } = await loadHfModelDir(dir);
    try {
      expect(maxAbsDiff(logitsOf(model, expected.input_ids), expected.logits)).toBeLessThanOrEqual(PARITY_TOLERANCE);
    } finally {
      model.dispose();
    }
  });
});

describe('clear errors naming the file and the tensor', () => {
  it('missing config.json, weights or tokenizer', async () => {
    for (const [file, errorFile] of [
      ['config.json', 'config.json'],
      ['model.safetensors', 'model.safetensors'],
    ]) {
      const dir = await scratchCopy(`missing-${file}`);
      await fs.rm(path.join(dir, file));
      const err = await loadHfModelDir(dir).catch((e: unknown) => e);
      expect(err).toMatchObject({ name: 'HfMissingFileError', file: path.join(dir, errorFile) });
      expect((err as Error).message).toContain(file);
    }
    const dir = await scratchCopy('missing-tokenizer');
    await Promise.all(['tokenizer.json', 'vocab.json'].map((f) => fs.rm(path.join(dir, f))));
    await expect(loadHfModelDir(dir)).rejects.toMatchObject({ name: 'HfMissingFileError' });
  });

  it('unknown architecture', async () => {
    const dir = await scratchCopy('arch');
    const file = path.join(dir, 'config.json');
    await editJson(file, (c) => {
      c.architectures = ['LlamaForCausalLM'];
      c.model_type = 'llama';
    });
    const err = await loadHfModelDir(dir).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'HfUnknownArchitectureError', file, architecture: 'LlamaForCausalLM' });
    expect((err as Error).message).toContain('LlamaForCausalLM');
    expect((err as Error).message).toContain('GPT2LMHeadModel');
  });

  it('unsupported dtype', async () => {
    const dir = await scratchCopy('dtype');
    const file = path.join(dir, 'model.safetensors');
    const tensors = await fixtureTensors();
    const target = 'transformer.h.0.ln_1.weight';
    await writeRawSafetensors(
      file,
      tensors.map((t) => (t.name === target ? { name: t.name, dtype: 'F64', shape: t.shape, bytes: new Uint8Array(t.data.length * 8) } : { name: t.name, dtype: 'F32', shape: t.shape, bytes: f32Bytes(t.data) })),
    );
    const err = await loadHfModelDir(dir).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'HfUnsupportedDtypeError', file, tensor: target, dtype: 'F64' });
    expect((err as Error).message).toContain(target);
  });

  it('BF16 weights load widened exactly, and give logits close to the F32 ones', async () => {
    const dir = await scratchCopy('bf16');
    const tensors = await fixtureTensors();
    // float32 → bfloat16 with round-to-nearest: keep the top 16 bits of the rounded word.
    const toBf16Bits = (data: Float32Array): Uint32Array => new Uint32Array(data.length).map((_, i) => ((new Uint32Array(Float32Array.of(data[i]).buffer)[0] + 0x8000) >>> 16) & 0xffff);
    const bytesOf = (bits: Uint32Array): Uint8Array => {
      const out = Buffer.alloc(bits.length * 2);
      bits.forEach((b, i) => out.writeUInt16LE(b, i * 2));
      return out;
    };
    await writeRawSafetensors(
      path.join(dir, 'model.safetensors'),
      tensors.map((t) => ({ name: t.name, dtype: 'BF16', shape: t.shape, bytes: bytesOf(toBf16Bits(t.data)) })),
    );
    const { model } = await loadHfModelDir(dir);
    try {
      const wte = tensors.find((t) => t.name === 'transformer.wte.weight')!;
      const widened = new Float32Array(new Uint32Array(toBf16Bits(wte.data).map((b) => b << 16)).buffer);
      expect(Buffer.from(model.getWeights()['wte.weight'].buffer).equals(Buffer.from(widened.buffer))).toBe(true);
      const diff = maxAbsDiff(logitsOf(model, expected.input_ids), expected.logits);
      expect(diff).toBeGreaterThan(PARITY_TOLERANCE); // really reduced precision
      expect(diff).toBeLessThan(0.2);
    } finally {
      model.dispose();
    }
  });

  it('shape that does not match config.json', async () => {
    const dir = await scratchCopy('shape');
    await editJson(path.join(dir, 'config.json'), (c) => {
      c.n_positions = 32;
    });
    const err = await loadHfModelDir(dir).catch((e: unknown) => e);
    expect(err).toMatchObject({
      name: 'HfShapeMismatchError',
      file: path.join(dir, 'model.safetensors'),
      tensor: 'transformer.wpe.weight',
      expected: [32, 64],
      actual: [64, 64],
    });
    expect((err as Error).message).toContain('transformer.wpe.weight');
    expect((err as Error).message).toContain('model.safetensors');
  });

  it('a missing tensor, an unexpected tensor, an untied lm_head', async () => {
    const tensors = await fixtureTensors();
    const dropped = await scratchCopy('dropped');
    await writeSafetensors(path.join(dropped, 'model.safetensors'), tensors.filter((t) => t.name !== 'transformer.h.1.mlp.c_fc.bias'));
    await expect(loadHfModelDir(dropped)).rejects.toMatchObject({ name: 'HfShapeMismatchError', tensor: 'transformer.h.1.mlp.c_fc.bias', actual: null });

    const extra = await scratchCopy('extra');
    await writeSafetensors(path.join(extra, 'model.safetensors'), [...tensors, { name: 'score.weight', shape: [2, 64], data: new Float32Array(128) }]);
    await expect(loadHfModelDir(extra)).rejects.toMatchObject({ name: 'HfFormatError', tensor: 'score.weight', file: path.join(extra, 'model.safetensors') });

    const untied = await scratchCopy('untied');
    const wte = tensors.find((t) => t.name === 'transformer.wte.weight')!;
    const head = { name: 'lm_head.weight', shape: wte.shape, data: wte.data.map((x) => x + 1) };
    await writeSafetensors(path.join(untied, 'model.safetensors'), [...tensors, head]);
    await expect(loadHfModelDir(untied)).rejects.toMatchObject({ name: 'HfFormatError', tensor: 'lm_head.weight' });
  });

  it('config options GPT-2 here does not implement are refused by field', async () => {
    const cases: [string, unknown][] = [
      ['activation_function', 'relu'],
      ['layer_norm_epsilon', 1e-6],
      ['scale_attn_by_inverse_layer_idx', true],
      ['n_inner', 100],
    ];
    for (const [field, value] of cases) {
      const dir = await scratchCopy(`opt-${field}`);
      const file = path.join(dir, 'config.json');
      await editJson(file, (c) => {
        c[field] = value;
      });
      const err = await loadHfModelDir(dir).catch((e: unknown) => e);
      expect(err).toMatchObject({ name: 'HfFormatError', file });
      expect((err as Error).message).toContain(field);
    }
  });
});
