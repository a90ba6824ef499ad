import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { exportHfModelDir } from '../../ml/hf/export';
import { loadHfModelDir } from '../../ml/hf/load';
import { readBpeTokenizer } from '../../ml/hf/tokenizer-files';
import { GptModel } from '../../ml/model';
import { Rng } from '../../ml/rng';
import { tf } from '../../ml/tf';
import { FIXTURE_DIR, logitsOf, makeTempDir, maxAbsDiff, readExpectations, type FixtureExpectations } from './fixture';

const NO_LORA = { rank: 0, alpha: 0, dropout: 0 };
let expected: FixtureExpectations;
const scratch: string[] = [];
beforeAll(async () => {
  await tf.setBackend('cpu');
  expected = await readExpectations();
});
afterAll(async () => {
  await Promise.all(scratch.map((d) => fs.rm(d, { recursive: true, force: true })));
});

async function scratchDir(prefix: string): Promise<string> {
  const dir = await makeTempDir(prefix);
  scratch.push(dir);
  return dir;
}

/** Gives every LoRA B non-zero values, so the adapters change the function and the merge matters. */
function randomiseLoraB(model: GptModel, seed: number): void {
  const rng = new Rng(seed);
  const w: Record<string, Float32Array> = {};
  for (const n of model.namedVariables()) if (n.name.endsWith('lora_B')) w[n.name] = rng.normalArray(n.variable.size, 0.05);
  model.setWeights(w, { allowMissing: true });
}

const bytesEqual = (a: Float32Array, b: Float32Array): boolean => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

describe('export → load back', () => {
  it('without adapters: every weight and every logit is bit-identical', async () => {
    const out = await scratchDir('export-plain');
    const src = await loadHfModelDir(FIXTURE_DIR, { lora: NO_LORA });
    const back = await (async () => {
      await exportHfModelDir(out, src.model, src.tokenizer, { sourceConfig: src.hfConfig });
      return loadHfModelDir(out, { lora: NO_LORA });
    })();
    try {
      const [a, b] = [src.model.getWeights(), back.model.getWeights()];
      for (const n of src.model.namedVariables().filter((v) => v.group === 'base')) expect({ name: n.name, same: bytesEqual(a[n.name], b[n.name]) }).toEqual({ name: n.name, same: true });
      expect(maxAbsDiff(logitsOf(back.model, expected.input_ids), logitsOf(src.model, expected.input_ids))).toBe(0);
      expect(back.config).toEqual(src.config);
    } finally {
      src.model.dispose();
      back.model.dispose();
    }
  });

  it('with trained adapters: writes the merged weights, leaves the source policy untouched', async () => {
    const out = await scratchDir('export-lora');
    const src = await loadHfModelDir(FIXTURE_DIR, { lora: { rank: 4, alpha: 8, dropout: 0 }, seed: 3 });
    randomiseLoraB(src.model, 11);
    const before = src.model.getWeights();
    const adapted = logitsOf(src.model, expected.input_ids, true);
    const base = logitsOf(src.model, expected.input_ids, false);
    expect(maxAbsDiff(adapted, base)).toBeGreaterThan(1e-2); // the adapters do change the function

    await exportHfModelDir(out, src.model, src.tokenizer, { sourceConfig: src.hfConfig });
    const after = src.model.getWeights();
    for (const name of Object.keys(before)) expect({ name, same: bytesEqual(before[name], after[name]) }).toEqual({ name, same: true });

    // The reference for "identical": the same merge done in memory (W += A·B·α/r).
    const merged = GptModel.fromWeights(src.model.config, before, new Rng(0));
    merged.mergeLora();
    const back = await loadHfModelDir(out, { lora: NO_LORA });
    try {
      const mergedLogits = logitsOf(merged, expected.input_ids, false);
      expect(maxAbsDiff(logitsOf(back.model, expected.input_ids), mergedLogits)).toBe(0);
      // And the merged model is the adapted policy, up to float32 rounding of the merge.
      expect(maxAbsDiff(mergedLogits, adapted)).toBeLessThan(1e-4);
    } finally {
      merged.dispose();
      back.model.dispose();
      src.model.dispose();
    }
  });
});

describe('exported directory', () => {
  let out: string;
  beforeAll(async () => {
    out = await scratchDir('export-files');
    const src = await loadHfModelDir(FIXTURE_DIR, { lora: NO_LORA });
    try {
      await exportHfModelDir(out, src.model, src.tokenizer, { sourceConfig: src.hfConfig });
    } finally {
      src.model.dispose();
    }
  });

  it('has the files transformers reads, and nothing of ours (no value head, no lm_head, no LoRA)', async () => {
    expect((await fs.readdir(out)).sort()).toEqual(
      ['config.json', 'generation_config.json', 'merges.txt', 'model.safetensors', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json', 'vocab.json'],
    );
    const bytes = await fs.readFile(path.join(out, 'model.safetensors'));
    const header = JSON.parse(bytes.subarray(8, 8 + Number(bytes.readBigUInt64LE(0))).toString('utf8')) as Record<string, unknown>;
    const names = Object.keys(header).filter((k) => k !== '__metadata__');
    expect(header.__metadata__).toEqual({ format: 'pt' });
    expect(names).toHaveLength(4 + 2 * 12);
    expect(names.every((n) => n.startsWith('transformer.'))).toBe(true);
    expect(names.some((n) => /v_head|lora|lm_head/.test(n))).toBe(false);
  });

  it("config.json is a GPT2Config with the source's own fields kept", async () => {
    const config = JSON.parse(await fs.readFile(path.join(out, 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(config).toMatchObject({
      architectures: ['GPT2LMHeadModel'],
      model_type: 'gpt2',
      vocab_size: 400,
      n_positions: 64,
      n_embd: 64,
      n_layer: 2,
      n_head: 4,
      activation_function: 'gelu_new',
      tie_word_embeddings: true,
      bos_token_id: expected.special.bos_token_id,
      eos_token_id: expected.special.eos_token_id,
      summary_type: 'cls_index', // carried over from the fixture's config.json
    });
  });

  it.each(['tokenizer.json', 'vocab+merges'] as const)('its tokenizer (%s) reproduces the fixture ids', async (source) => {
    const tok = await readBpeTokenizer(out, source);
    for (const { text, ids } of expected.tokenizer) expect(tok.encode(text)).toEqual(ids);
    expect([tok.bosId, tok.eosId, tok.vocabSize]).toEqual([expected.special.bos_token_id, expected.special.eos_token_id, 400]);
  });

  it('is deterministic: a second export writes the same bytes', async () => {
    const again = await scratchDir('export-again');
    const src = await loadHfModelDir(out, { lora: NO_LORA });
    try {
      await exportHfModelDir(again, src.model, src.tokenizer, { sourceConfig: src.hfConfig });
    } finally {
      src.model.dispose();
    }
    for (const f of await fs.readdir(out)) {
      expect({ f, same: (await fs.readFile(path.join(out, f))).equals(await fs.readFile(path.join(again, f))) }).toEqual({ f, same: true });
    }
  });
});
