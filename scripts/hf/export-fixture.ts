/**
 * First half of the transformers interoperability check (the second is check-export.py).
 *
 * Loads test/fixtures/tiny-gpt2 (or another GPT-2 directory) with LoRA adapters, gives the
 * adapters seeded non-zero B matrices (as if trained, so the merge on export matters), exports
 * the policy as a Hugging Face directory, and writes alongside it `<out>.check.json`: the
 * token ids and the logits our model (adapters on) gives, plus our tokenizer's ids for the
 * fixture's string set. check-export.py then loads `<out>` with transformers and compares.
 *
 *   npx tsx scripts/hf/export-fixture.ts /tmp/hf-export [source-dir]
 *   .cache/hf-venv/bin/python scripts/hf/check-export.py /tmp/hf-export
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { exportHfModelDir } from '../../ml/hf/export';
import { loadHfModelDir } from '../../ml/hf/load';
import { Rng } from '../../ml/rng';
import { tf } from '../../ml/tf';
import type { Tensor2D } from '../../ml/tf';

const DEFAULT_SOURCE = path.join(__dirname, '..', '..', 'test', 'fixtures', 'tiny-gpt2');
const LORA = { rank: 4, alpha: 8, dropout: 0 };
const SEED = 2024;
/** Ids checked: 2 rows × 24 positions, drawn from the seeded Rng. */
const BATCH = 2;
const LENGTH = 24;

interface FixtureExpected {
  tokenizer: { text: string }[];
}

async function main(): Promise<void> {
  const [out, source = DEFAULT_SOURCE] = process.argv.slice(2);
  if (out === undefined) throw new Error('usage: export-fixture.ts <out-dir> [source-dir]');
  await tf.setBackend('cpu');
  const { model, tokenizer, hfConfig } = await loadHfModelDir(source, { lora: LORA, seed: SEED });
  try {
    const rng = new Rng(SEED);
    const loraB: Record<string, Float32Array> = {};
    for (const n of model.namedVariables()) if (n.name.endsWith('lora_B')) loraB[n.name] = rng.normalArray(n.variable.size, 0.05);
    model.setWeights(loraB, { allowMissing: true });

    const ids = Array.from({ length: BATCH }, () => Array.from({ length: LENGTH }, () => Math.floor(rng.next() * model.config.vocabSize)));
    const idsT = tf.tensor2d(ids, [BATCH, LENGTH], 'int32') as Tensor2D;
    const mask = tf.ones([BATCH, LENGTH], 'float32') as Tensor2D;
    const fwd = model.forward(idsT, mask, { adapters: true });
    const logits = fwd.logits.arraySync();
    tf.dispose([idsT, mask, fwd.logits, fwd.values, fwd.hidden]);

    await exportHfModelDir(out, model, tokenizer, { sourceConfig: hfConfig });
    const expectedFile = path.join(source, 'expected.json');
    const texts = (JSON.parse(await fs.readFile(expectedFile, 'utf8')) as FixtureExpected).tokenizer.map((t) => t.text);
    const check = { input_ids: ids, logits, tokenizer: texts.map((text) => ({ text, ids: tokenizer.encode(text) })) };
    await fs.writeFile(`${out.replace(/\/+$/, '')}.check.json`, JSON.stringify(check));
    console.log(`exported ${source} (LoRA r=${LORA.rank}, merged) to ${out}; our logits in ${out}.check.json`);
  } finally {
    model.dispose();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
