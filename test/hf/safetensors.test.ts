import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { SafetensorsReader, halfToFloat, writeSafetensors } from '../../ml/hf/safetensors';
import { SafetensorsWeights } from '../../ml/hf/weights-dir';
import { Rng } from '../../ml/rng';
import { FIXTURE_DIR, f32Bytes, makeTempDir, writeRawSafetensors } from './fixture';

let dir: string;
beforeAll(async () => {
  dir = await makeTempDir('safetensors');
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const u16le = (values: number[]): Uint8Array => {
  const buf = Buffer.alloc(values.length * 2);
  values.forEach((v, i) => buf.writeUInt16LE(v, i * 2));
  return buf;
};

describe('writeSafetensors → SafetensorsReader', () => {
  it('round-trips float32 tensors bit for bit, with metadata, in header order', async () => {
    const rng = new Rng(7);
    const tensors = [
      { name: 'a', shape: [3, 5], data: rng.normalArray(15, 1) },
      { name: 'scalar', shape: [], data: Float32Array.of(-0) },
      { name: 'empty', shape: [0, 4], data: new Float32Array(0) },
      { name: 'specials', shape: [4], data: Float32Array.of(Infinity, -Infinity, 1e-45, 3.4028234663852886e38) },
    ];
    const file = path.join(dir, 'roundtrip.safetensors');
    await writeSafetensors(file, tensors, { format: 'pt' });
    const reader = await SafetensorsReader.open(file);
    try {
      expect(reader.names()).toEqual(['a', 'scalar', 'empty', 'specials']);
      expect(reader.metadata).toEqual({ format: 'pt' });
      for (const t of tensors) {
        expect(reader.entry(t.name)).toMatchObject({ dtype: 'F32', shape: t.shape });
        const got = await reader.readF32(t.name);
        expect(Buffer.from(got.buffer).equals(Buffer.from(t.data.buffer))).toBe(true);
      }
    } finally {
      await reader.close();
    }
  });

  it('pads the header so the data section starts on an 8-byte boundary', async () => {
    const file = path.join(dir, 'aligned.safetensors');
    await writeSafetensors(file, [{ name: 'odd_name_x', shape: [1], data: Float32Array.of(1) }]);
    const bytes = await fs.readFile(file);
    const headerLength = Number(bytes.readBigUInt64LE(0));
    expect(headerLength % 8).toBe(0);
    expect(bytes.length).toBe(8 + headerLength + 4);
    expect(bytes.readFloatLE(8 + headerLength)).toBe(1);
  });

  it('refuses a tensor whose data does not fit its shape, and duplicate names', async () => {
    const file = path.join(dir, 'bad.safetensors');
    await expect(writeSafetensors(file, [{ name: 'w', shape: [2, 2], data: new Float32Array(3) }])).rejects.toMatchObject({
      name: 'HfFormatError',
      tensor: 'w',
    });
    const t = { name: 'w', shape: [1], data: new Float32Array(1) };
    await expect(writeSafetensors(file, [t, t])).rejects.toMatchObject({ name: 'HfFormatError', tensor: 'w' });
  });
});

describe('half-precision decoding', () => {
  // IEEE 754 binary16 bit patterns and their exact values.
  const f16Cases: [number, number][] = [
    [0x3c00, 1],
    [0xc000, -2],
    [0x3555, 0.333251953125],
    [0x7bff, 65504],
    [0x0400, 2 ** -14], // smallest normal
    [0x0001, 2 ** -24], // smallest subnormal
    [0x03ff, 1023 * 2 ** -24], // largest subnormal
    [0x0000, 0],
    [0x7c00, Infinity],
    [0xfc00, -Infinity],
  ];

  it('halfToFloat gives the exact binary16 values, signed zero and NaN', () => {
    for (const [bits, value] of f16Cases) expect(halfToFloat(bits)).toBe(value);
    expect(Object.is(halfToFloat(0x8000), -0)).toBe(true);
    expect(halfToFloat(0x7e00)).toBeNaN();
  });

  it('reads F16 and BF16 tensors widened to float32', async () => {
    const file = path.join(dir, 'half.safetensors');
    // bfloat16 is the top 16 bits of a float32: 0x3f80 = 1, 0xc040 = -3, 0x4049 ≈ 3.140625.
    await writeRawSafetensors(file, [
      { name: 'h', dtype: 'F16', shape: [f16Cases.length], bytes: u16le(f16Cases.map(([b]) => b)) },
      { name: 'b', dtype: 'BF16', shape: [2, 2], bytes: u16le([0x3f80, 0xc040, 0x4049, 0x0000]) },
    ]);
    const reader = await SafetensorsReader.open(file);
    try {
      expect(Array.from(await reader.readF32('h'))).toEqual(f16Cases.map(([, v]) => v));
      expect(Array.from(await reader.readF32('b'))).toEqual([1, -3, 3.140625, 0]);
    } finally {
      await reader.close();
    }
  });
});

describe('errors name the file and the tensor', () => {
  it('unsupported dtype (I64) on read; unknown dtype when opening', async () => {
    const file = path.join(dir, 'ints.safetensors');
    await writeRawSafetensors(file, [
      { name: 'ok', dtype: 'F32', shape: [1], bytes: f32Bytes(Float32Array.of(2)) },
      { name: 'step', dtype: 'I64', shape: [1], bytes: new Uint8Array(8) },
    ]);
    const reader = await SafetensorsReader.open(file);
    try {
      expect(Array.from(await reader.readF32('ok'))).toEqual([2]);
      const err = await reader.readF32('step').catch((e: unknown) => e);
      expect(err).toMatchObject({ name: 'HfUnsupportedDtypeError', file, tensor: 'step', dtype: 'I64' });
      expect((err as Error).message).toContain(file);
      expect((err as Error).message).toContain("'step'");
    } finally {
      await reader.close();
    }
    const odd = path.join(dir, 'odd.safetensors');
    await writeRawSafetensors(odd, [{ name: 'q', dtype: 'Q4_K', shape: [2], bytes: new Uint8Array(1) }]);
    await expect(SafetensorsReader.open(odd)).rejects.toMatchObject({ name: 'HfUnsupportedDtypeError', file: odd, tensor: 'q', dtype: 'Q4_K' });
  });

  it('a missing file, a truncated file, a header longer than the file, offsets past the end', async () => {
    const missing = path.join(dir, 'nope.safetensors');
    await expect(SafetensorsReader.open(missing)).rejects.toMatchObject({ name: 'HfMissingFileError', file: missing });

    const short = path.join(dir, 'short.safetensors');
    await fs.writeFile(short, Buffer.from([1, 2, 3]));
    await expect(SafetensorsReader.open(short)).rejects.toMatchObject({ name: 'HfFormatError', file: short });

    const long = path.join(dir, 'long.safetensors');
    const lengthOnly = Buffer.alloc(16);
    lengthOnly.writeBigUInt64LE(1000n);
    await fs.writeFile(long, lengthOnly);
    await expect(SafetensorsReader.open(long)).rejects.toMatchObject({ name: 'HfFormatError', file: long });

    const cut = path.join(dir, 'cut.safetensors');
    await writeRawSafetensors(cut, [{ name: 'w', dtype: 'F32', shape: [4], bytes: f32Bytes(Float32Array.of(1, 2, 3, 4)) }]);
    const whole = await fs.readFile(cut);
    await fs.writeFile(cut, whole.subarray(0, whole.length - 4));
    await expect(SafetensorsReader.open(cut)).rejects.toMatchObject({ name: 'HfFormatError', file: cut, tensor: 'w' });

    const wrongSize = path.join(dir, 'size.safetensors');
    await writeRawSafetensors(wrongSize, [{ name: 'w', dtype: 'F32', shape: [3], bytes: f32Bytes(Float32Array.of(1, 2)) }]);
    await expect(SafetensorsReader.open(wrongSize)).rejects.toMatchObject({ name: 'HfFormatError', tensor: 'w' });
  });
});

describe('transformers-written files', () => {
  it("reads the fixture's model.safetensors (written by save_pretrained)", async () => {
    const reader = await SafetensorsReader.open(path.join(FIXTURE_DIR, 'model.safetensors'));
    try {
      expect(reader.metadata.format).toBe('pt');
      expect(reader.entry('transformer.wte.weight')).toMatchObject({ dtype: 'F32', shape: [400, 64] });
      expect(reader.entry('transformer.h.1.attn.c_attn.weight')).toMatchObject({ dtype: 'F32', shape: [64, 192] });
      const ln = await reader.readF32('transformer.h.0.ln_1.weight');
      expect(ln).toHaveLength(64);
      // make-fixture.py draws LayerNorm gains as 1 + 0.2·N(0, 1): finite, around 1, not all equal.
      expect(ln.every(Number.isFinite)).toBe(true);
      expect(Math.abs(ln.reduce((a, b) => a + b, 0) / 64 - 1)).toBeLessThan(0.15);
      expect(new Set(ln).size).toBeGreaterThan(60);
    } finally {
      await reader.close();
    }
  });
});

describe('SafetensorsWeights (single file or sharded with an index)', () => {
  async function writeSharded(target: string): Promise<void> {
    await fs.mkdir(target, { recursive: true });
    await writeSafetensors(path.join(target, 'model-00001-of-00002.safetensors'), [
      { name: 'x', shape: [2], data: Float32Array.of(1, 2) },
      { name: 'y', shape: [1], data: Float32Array.of(3) },
    ]);
    await writeSafetensors(path.join(target, 'model-00002-of-00002.safetensors'), [{ name: 'z', shape: [1, 1], data: Float32Array.of(4) }]);
    const index = {
      metadata: { total_size: 16 },
      weight_map: { x: 'model-00001-of-00002.safetensors', y: 'model-00001-of-00002.safetensors', z: 'model-00002-of-00002.safetensors' },
    };
    await fs.writeFile(path.join(target, 'model.safetensors.index.json'), JSON.stringify(index));
  }

  it('reads every tensor through the index, from the right shard', async () => {
    const sharded = path.join(dir, 'sharded');
    await writeSharded(sharded);
    const weights = await SafetensorsWeights.open(sharded);
    try {
      expect(weights.names().sort()).toEqual(['x', 'y', 'z']);
      expect(weights.source).toBe(path.join(sharded, 'model.safetensors.index.json'));
      expect(weights.entry('z')).toMatchObject({ shape: [1, 1], file: path.join(sharded, 'model-00002-of-00002.safetensors') });
      expect(Array.from(await weights.readF32('x'))).toEqual([1, 2]);
      expect(Array.from(await weights.readF32('z'))).toEqual([4]);
    } finally {
      await weights.close();
    }
  });

  it('names the missing shard and the tensor that needs it; names a directory with no weights', async () => {
    const sharded = path.join(dir, 'sharded-missing');
    await writeSharded(sharded);
    const shard = path.join(sharded, 'model-00002-of-00002.safetensors');
    await fs.rm(shard);
    await expect(SafetensorsWeights.open(sharded)).rejects.toMatchObject({ name: 'HfMissingFileError', file: shard, tensor: 'z' });

    const empty = path.join(dir, 'no-weights');
    await fs.mkdir(empty);
    const err = await SafetensorsWeights.open(empty).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'HfMissingFileError', file: path.join(empty, 'model.safetensors') });
    expect((err as Error).message).toContain('model.safetensors.index.json');
  });

  it('refuses an index that points a tensor at a shard not holding it', async () => {
    const sharded = path.join(dir, 'sharded-wrong');
    await writeSharded(sharded);
    await fs.writeFile(
      path.join(sharded, 'model.safetensors.index.json'),
      JSON.stringify({ weight_map: { x: 'model-00002-of-00002.safetensors' } }),
    );
    await expect(SafetensorsWeights.open(sharded)).rejects.toMatchObject({ name: 'HfFormatError', tensor: 'x' });
  });
});
