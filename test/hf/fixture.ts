/**
 * Shared pieces of the test/hf suites: the committed tiny-gpt2 fixture, its expectations,
 * a scratch copy helper, logits comparison, and a raw safetensors writer for dtypes our own
 * writer never emits (F16, BF16, I64, ...).
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { GptModel } from '../../ml/model';
import { tf } from '../../ml/tf';
import type { Tensor2D } from '../../ml/tf';

export const FIXTURE_DIR = path.join(__dirname, '..', 'fixtures', 'tiny-gpt2');

export interface FixtureExpectations {
  config: { vocab_size: number; n_positions: number; n_embd: number; n_layer: number; n_head: number };
  special: { bos_token_id: number; eos_token_id: number };
  input_ids: number[][];
  logits_shape: [number, number, number];
  logits: number[][][];
  tokenizer: { text: string; ids: number[]; decoded: string }[];
}

export async function readExpectations(): Promise<FixtureExpectations> {
  return JSON.parse(await fs.readFile(path.join(FIXTURE_DIR, 'expected.json'), 'utf8')) as FixtureExpectations;
}

export async function makeTempDir(prefix: string): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), `rlhf-hf-${prefix}-`));
}

/** A scratch copy of the fixture directory (tests edit copies, never the fixture). */
export async function copyFixture(prefix: string): Promise<string> {
  const dir = await makeTempDir(prefix);
  for (const f of await fs.readdir(FIXTURE_DIR)) await fs.copyFile(path.join(FIXTURE_DIR, f), path.join(dir, f));
  return dir;
}

export async function editJson(file: string, edit: (json: Record<string, unknown>) => void): Promise<void> {
  const json = JSON.parse(await fs.readFile(file, 'utf8')) as Record<string, unknown>;
  edit(json);
  await fs.writeFile(file, JSON.stringify(json));
}

/** Full-sequence logits [B, T, V] of `model` on unpadded `ids`, as nested arrays. */
export function logitsOf(model: GptModel, ids: number[][], adapters = true): number[][][] {
  const idsT = tf.tensor2d(ids, [ids.length, ids[0].length], 'int32') as Tensor2D;
  const mask = tf.ones([ids.length, ids[0].length], 'float32') as Tensor2D;
  const out = model.forward(idsT, mask, { adapters });
  const logits = out.logits.arraySync();
  tf.dispose([idsT, mask, out.logits, out.values, out.hidden]);
  return logits;
}

export function maxAbsDiff(a: number[][][], b: number[][][]): number {
  if (a.length !== b.length) throw new Error(`batch ${a.length} vs ${b.length}`);
  let max = 0;
  a.forEach((seq, i) =>
    seq.forEach((row, t) => {
      if (row.length !== b[i][t].length) throw new Error(`vocab ${row.length} vs ${b[i][t].length}`);
      row.forEach((x, v) => (max = Math.max(max, Math.abs(x - b[i][t][v]))));
    }),
  );
  return max;
}

export interface RawTensor {
  name: string;
  dtype: string;
  shape: number[];
  bytes: Uint8Array;
}

/** A safetensors file written byte by byte, independent of ml/hf/safetensors.ts. */
export async function writeRawSafetensors(file: string, tensors: readonly RawTensor[]): Promise<void> {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.bytes.length] };
    offset += t.bytes.length;
  }
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  await fs.writeFile(file, Buffer.concat([length, json, ...tensors.map((t) => Buffer.from(t.bytes))]));
}

/** Little-endian float32 bytes of `values`. */
export function f32Bytes(values: Float32Array): Uint8Array {
  const buf = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => buf.writeFloatLE(v, i * 4));
  return buf;
}
