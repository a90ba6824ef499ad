import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Rng } from '../../ml/rng';
import {
  checkpointDirName,
  findLatestVerified,
  listCheckpoints,
  pruneCheckpoints,
  readCheckpoint,
  writeCheckpoint,
  type Checkpoint,
} from '../../ml/checkpoint';

let root: string;
beforeEach(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'ckpt-test-'));
});
afterEach(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

/** A checkpoint with awkward float32 values (−0, subnormal, extremes) and nested JSON state (NaN is refused: see below). */
function sample(seed: number): Checkpoint {
  const rng = new Rng(seed);
  const special = Float32Array.from([-0, 1.4e-45, 3.4028234663852886e38, -1e-38, -3.4028234663852886e38, 0.1]);
  return {
    tensors: [
      { name: 'wte', shape: [4, 3], data: rng.normalArray(12, 0.02) },
      { name: 'special', shape: [6], data: special },
      { name: 'empty', shape: [0, 5], data: new Float32Array(0) },
      { name: 'scalar', shape: [], data: Float32Array.from([seed]) },
    ],
    state: { rng: rng.getState(), kl: { kind: 'adaptive', value: 0.1 + 0.2 }, updatesDone: seed, cursor: [3, 1, 2] },
  };
}

const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** Runs fn and returns what it rejected with. */
async function rejection(p: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  try {
    await p;
  } catch (err) {
    return err as Error & Record<string, unknown>;
  }
  throw new Error('expected a rejection');
}

async function flipByte(file: string, at: number): Promise<void> {
  const buf = await fs.readFile(file);
  buf[at] ^= 0x01;
  await fs.writeFile(file, buf);
}

describe('writeCheckpoint / readCheckpoint', () => {
  it('round-trips tensors bit-exactly and the state exactly', async () => {
    const dir = path.join(root, checkpointDirName(40));
    const ck = sample(40);
    await writeCheckpoint(dir, ck);
    expect((await fs.readdir(dir)).sort()).toEqual(['manifest.json', 'state.json', 'tensors.bin']);
    const back = await readCheckpoint(dir);
    expect(back.tensors.map((t) => [t.name, t.shape])).toEqual(ck.tensors.map((t) => [t.name, t.shape]));
    back.tensors.forEach((t, i) => expect(bytes(t.data).equals(bytes(ck.tensors[i].data))).toBe(true));
    expect(back.state).toEqual(ck.state);
    // Nothing but the checkpoint is left in the parent (no .tmp- directory).
    expect(await fs.readdir(root)).toEqual(['update-000040']);
  });

  it('stores tensors little-endian, concatenated in input order', async () => {
    const dir = path.join(root, 'ck');
    await writeCheckpoint(dir, { tensors: [{ name: 'a', shape: [2], data: Float32Array.from([1, -2]) }], state: null });
    const raw = await fs.readFile(path.join(dir, 'tensors.bin'));
    expect([raw.readFloatLE(0), raw.readFloatLE(4)]).toEqual([1, -2]);
  });

  it('replaces an existing checkpoint whole, leaving no temporaries', async () => {
    const dir = path.join(root, checkpointDirName(10));
    await writeCheckpoint(dir, sample(1));
    await writeCheckpoint(dir, sample(2));
    expect((await readCheckpoint(dir)).state).toEqual(sample(2).state);
    expect(await fs.readdir(root)).toEqual(['update-000010']);
  });

  it.each([
    ['tensors.bin', 17],
    ['state.json', 5],
  ])('reports a flipped byte in %s as CheckpointCorruptError naming the file', async (file, at) => {
    const dir = path.join(root, 'ck');
    await writeCheckpoint(dir, sample(3));
    await flipByte(path.join(dir, file), at);
    const err = await rejection(readCheckpoint(dir));
    expect(err.name).toBe('CheckpointCorruptError');
    expect(err.file).toBe(file);
    expect(err.dir).toBe(dir);
  });

  it('reports an edited manifest that is still valid JSON, and a missing file', async () => {
    const dir = path.join(root, 'ck');
    await writeCheckpoint(dir, sample(4));
    const manifestPath = path.join(dir, 'manifest.json');
    const manifest = JSON.parse(await fs.readFile(manifestPath, 'utf8')) as { tensors: { shape: number[] }[] };
    manifest.tensors[0].shape = [3, 4];
    await fs.writeFile(manifestPath, JSON.stringify(manifest));
    expect((await rejection(readCheckpoint(dir))).file).toBe('manifest.json');

    const dir2 = path.join(root, 'ck2');
    await writeCheckpoint(dir2, sample(5));
    await fs.rm(path.join(dir2, 'state.json'));
    const err = await rejection(readCheckpoint(dir2));
    expect([err.name, err.file]).toEqual(['CheckpointCorruptError', 'state.json']);
  });

  it('reports a missing directory as CheckpointNotFoundError (code ENOENT)', async () => {
    const err = await rejection(readCheckpoint(path.join(root, 'nope')));
    expect([err.name, err.code]).toEqual(['CheckpointNotFoundError', 'ENOENT']);
  });

  it('rejects duplicate names and data that does not fit its shape, writing nothing', async () => {
    const dir = path.join(root, 'ck');
    const data = new Float32Array(2);
    const dup = await rejection(writeCheckpoint(dir, { tensors: [{ name: 'a', shape: [2], data }, { name: 'a', shape: [2], data }], state: {} }));
    expect([dup.name, dup.tensorName]).toEqual(['CheckpointInputError', 'a']);
    const misfit = await rejection(writeCheckpoint(dir, { tensors: [{ name: 'b', shape: [3], data }], state: {} }));
    expect(misfit.message).toMatch(/'b' has 2 values but shape \[3\] needs 3/);
    expect(await fs.readdir(root)).toEqual([]);
  });

  it('never checkpoints a non-finite weight: CheckpointNonFiniteError names the tensor, nothing is written', async () => {
    const dir = path.join(root, 'ck');
    for (const bad of [NaN, Infinity, -Infinity]) {
      const data = Float32Array.from([0.5, -1, bad]);
      const err = await rejection(writeCheckpoint(dir, { tensors: [{ name: 'ok', shape: [1], data: Float32Array.from([1]) }, { name: 'h.0.lora_A', shape: [3], data }], state: {} }));
      expect([err.name, err.tensorName, err.index]).toEqual(['CheckpointNonFiniteError', 'h.0.lora_A', 2]);
      expect(err.message).toMatch(/refusing to checkpoint tensor 'h\.0\.lora_A': element 2 is/);
    }
    // An existing good checkpoint is left as it was.
    await writeCheckpoint(dir, sample(1));
    await rejection(writeCheckpoint(dir, { tensors: [{ name: 'w', shape: [1], data: Float32Array.from([NaN]) }], state: {} }));
    expect((await readCheckpoint(dir)).state).toEqual(sample(1).state);
    expect(await fs.readdir(root)).toEqual(['ck']);
  });
});

describe('listCheckpoints / findLatestVerified', () => {
  it('lists update-NNNNNN directories oldest first, ignoring temporaries and other names', async () => {
    for (const u of [40, 5, 120]) await writeCheckpoint(path.join(root, checkpointDirName(u)), sample(u));
    // A crash mid-write leaves a complete-looking temporary that was never renamed.
    await writeCheckpoint(path.join(root, 'staging'), sample(7));
    await fs.rename(path.join(root, 'staging'), path.join(root, `${checkpointDirName(200)}.tmp-abc123`));
    await fs.mkdir(path.join(root, 'notes'));
    const listed = await listCheckpoints(root);
    expect(listed.map((e) => e.update)).toEqual([5, 40, 120]);
    const latest = await findLatestVerified(root);
    expect(latest?.update).toBe(120);
    expect(latest?.checkpoint.state).toEqual(sample(120).state);
  });

  it('skips a corrupted newest checkpoint and a torn one, reporting each', async () => {
    for (const u of [20, 40, 60]) await writeCheckpoint(path.join(root, checkpointDirName(u)), sample(u));
    await flipByte(path.join(root, checkpointDirName(60), 'tensors.bin'), 3);
    await fs.rm(path.join(root, checkpointDirName(40), 'manifest.json'));
    const skipped: Array<[string, string]> = [];
    const latest = await findLatestVerified(root, { onSkip: (dir, reason) => skipped.push([path.basename(dir), reason]) });
    expect(latest?.update).toBe(20);
    expect(skipped.map(([d]) => d)).toEqual(['update-000060', 'update-000040']);
    expect(skipped[0][1]).toMatch(/tensors\.bin/);
    expect(skipped[1][1]).toMatch(/manifest\.json/);
  });

  it('returns null when nothing verifies or the root does not exist', async () => {
    expect(await findLatestVerified(path.join(root, 'missing'))).toBeNull();
    await writeCheckpoint(path.join(root, checkpointDirName(1)), sample(1));
    await flipByte(path.join(root, checkpointDirName(1), 'state.json'), 0);
    expect(await findLatestVerified(root)).toBeNull();
  });

  it('prunes all but the newest verified checkpoints, never the last good one', async () => {
    for (const u of [10, 20, 30, 40]) await writeCheckpoint(path.join(root, checkpointDirName(u)), sample(u));
    await flipByte(path.join(root, checkpointDirName(40), 'tensors.bin'), 0);
    // Newest two that verify: 30 and 20; 40 (corrupt, newer) stays; 10 goes.
    const deleted = await pruneCheckpoints(root, 2);
    expect(deleted.map((d) => path.basename(d))).toEqual(['update-000010']);
    expect((await listCheckpoints(root)).map((e) => e.update)).toEqual([20, 30, 40]);
    // Asking to keep more than verify deletes nothing.
    expect(await pruneCheckpoints(root, 3)).toEqual([]);
    expect((await findLatestVerified(root))?.update).toBe(30);
  });

  it('names directories with six zero-padded digits', () => {
    expect(checkpointDirName(40)).toBe('update-000040');
    expect(checkpointDirName(1234567)).toBe('update-1234567');
    expect(() => checkpointDirName(-1)).toThrow(RangeError);
  });
});
