/**
 * Crash-safe checkpoint directories: named float32 tensors plus arbitrary JSON state.
 *
 * Layout of one checkpoint directory:
 *   tensors.bin    every tensor's float32 data, little-endian, concatenated in input order
 *   state.json     the caller's JSON state (RNG, KL controller, counters, optimizer scalars, ...)
 *   manifest.json  format version, tensor index {name, shape, offset, length}, the sha256 of
 *                  tensors.bin and state.json, and a sha256 of the manifest's own content
 *
 * Writes are atomic (storage/atomic-write.ts `atomicReplaceDir`): everything goes into a hidden
 * sibling `.tmp-<dir>-<random>` directory, each file and the directory are fsynced, then one
 * rename publishes it. A reader therefore sees either a complete checkpoint or none; a crash
 * leaves only a hidden temporary, which readers ignore. Reads verify every hash, so a torn or bit-flipped checkpoint is reported, never
 * loaded. Run checkpoints live as `root/update-NNNNNN/`; `findLatestVerified` returns the
 * newest one that verifies. This module knows nothing about models.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { atomicReplaceDir, writeSyncedFile } from '../storage/atomic-write';
import { CheckpointCorruptError, CheckpointInputError, CheckpointNonFiniteError, CheckpointNotFoundError } from './checkpoint-errors';

/** Bumped when the on-disk layout changes; readers reject other versions. */
export const CHECKPOINT_FORMAT_VERSION = 1;

export const CheckpointFiles = {
  tensors: 'tensors.bin',
  state: 'state.json',
  manifest: 'manifest.json',
} as const;

export interface CheckpointTensor {
  name: string;
  shape: number[];
  data: Float32Array;
}

export interface Checkpoint {
  tensors: CheckpointTensor[];
  /** JSON state as written (NaN and ±Infinity become null, as JSON.stringify does). */
  state: unknown;
}

interface TensorIndexEntry {
  name: string;
  shape: number[];
  /** Offset into tensors.bin, in float32 elements. */
  offset: number;
  /** Number of float32 elements. */
  length: number;
}

interface Manifest {
  formatVersion: number;
  tensors: TensorIndexEntry[];
  /** sha256 (hex) of every data file, by file name. */
  files: Record<string, string>;
  /** sha256 of this manifest's JSON without this field. */
  manifestSha256: string;
}

const sha256 = (data: Uint8Array | string): string => createHash('sha256').update(data).digest('hex');

function manifestDigest(m: Omit<Manifest, 'manifestSha256'>): string {
  return sha256(JSON.stringify({ formatVersion: m.formatVersion, tensors: m.tensors, files: m.files }));
}

/** Float32 data as little-endian bytes (a plain copy on little-endian hosts). */
function encodeTensors(tensors: readonly CheckpointTensor[]): { bytes: Buffer; index: TensorIndexEntry[] } {
  const total = tensors.reduce((n, t) => n + t.data.length, 0);
  const bytes = Buffer.alloc(total * 4);
  const index: TensorIndexEntry[] = [];
  let offset = 0;
  for (const t of tensors) {
    if (os.endianness() === 'LE') {
      Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).copy(bytes, offset * 4);
    } else {
      for (let i = 0; i < t.data.length; i++) bytes.writeFloatLE(t.data[i], (offset + i) * 4);
    }
    index.push({ name: t.name, shape: [...t.shape], offset, length: t.data.length });
    offset += t.data.length;
  }
  return { bytes, index };
}

function decodeTensor(bytes: Buffer, entry: TensorIndexEntry): Float32Array {
  const start = entry.offset * 4;
  if (os.endianness() === 'LE') {
    // A fresh, aligned buffer: the file buffer's byteOffset need not be a multiple of 4.
    return new Float32Array(bytes.buffer.slice(bytes.byteOffset + start, bytes.byteOffset + start + entry.length * 4));
  }
  const out = new Float32Array(entry.length);
  for (let i = 0; i < entry.length; i++) out[i] = bytes.readFloatLE(start + i * 4);
  return out;
}

function validateInput(tensors: readonly CheckpointTensor[]): void {
  const seen = new Set<string>();
  for (const t of tensors) {
    if (seen.has(t.name)) throw new CheckpointInputError(`duplicate tensor name '${t.name}'`, t.name);
    seen.add(t.name);
    if (!t.shape.every((d) => Number.isInteger(d) && d >= 0)) {
      throw new CheckpointInputError(`tensor '${t.name}' has an invalid shape [${t.shape}]`, t.name);
    }
    const size = t.shape.reduce((a, b) => a * b, 1);
    if (!(t.data instanceof Float32Array) || t.data.length !== size) {
      throw new CheckpointInputError(`tensor '${t.name}' has ${t.data?.length} values but shape [${t.shape}] needs ${size}`, t.name);
    }
    // A diverged weight (or moment) is never checkpointed: resume and rollback must find finite states.
    for (let i = 0; i < t.data.length; i++) {
      if (!Number.isFinite(t.data[i])) {
        throw new CheckpointNonFiniteError(`refusing to checkpoint tensor '${t.name}': element ${i} is ${t.data[i]}`, t.name, i, t.data[i]);
      }
    }
  }
}

/**
 * Writes a checkpoint atomically to `dir` (see the module comment). If `dir` already exists
 * it is replaced: the new checkpoint is complete on disk before the old one is moved aside
 * (a hidden `.old-` sibling) and deleted, so the old one is never partly overwritten.
 */
export async function writeCheckpoint(dir: string, checkpoint: Checkpoint): Promise<void> {
  validateInput(checkpoint.tensors);
  const stateJson = JSON.stringify(checkpoint.state ?? null);
  if (stateJson === undefined) throw new CheckpointInputError('state is not JSON-serialisable', 'state');
  const { bytes, index } = encodeTensors(checkpoint.tensors);
  const files = { [CheckpointFiles.tensors]: sha256(bytes), [CheckpointFiles.state]: sha256(stateJson) };
  const body = { formatVersion: CHECKPOINT_FORMAT_VERSION, tensors: index, files };
  const manifest: Manifest = { ...body, manifestSha256: manifestDigest(body) };

  await atomicReplaceDir(path.resolve(dir), async (tmp) => {
    await writeSyncedFile(path.join(tmp, CheckpointFiles.tensors), bytes);
    await writeSyncedFile(path.join(tmp, CheckpointFiles.state), stateJson);
    // The manifest last: its presence marks a directory whose data files were all written.
    await writeSyncedFile(path.join(tmp, CheckpointFiles.manifest), JSON.stringify(manifest, null, 1));
  });
}

async function readOrCorrupt(dir: string, file: string): Promise<Buffer> {
  try {
    return await fs.readFile(path.join(dir, file));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new CheckpointCorruptError(`checkpoint ${dir} is missing ${file}`, dir, file);
    }
    throw err;
  }
}

function parseManifest(dir: string, raw: Buffer): Manifest {
  const corrupt = (why: string) => new CheckpointCorruptError(`checkpoint ${dir}: ${CheckpointFiles.manifest} ${why}`, dir, CheckpointFiles.manifest);
  let m: Manifest;
  try {
    m = JSON.parse(raw.toString('utf8')) as Manifest;
  } catch {
    throw corrupt('is not valid JSON');
  }
  if (typeof m !== 'object' || m === null || !Array.isArray(m.tensors) || typeof m.files !== 'object' || m.files === null) {
    throw corrupt('lacks its tensor index or file hashes');
  }
  if (m.manifestSha256 !== manifestDigest(m)) throw corrupt('does not match its own sha256');
  if (m.formatVersion !== CHECKPOINT_FORMAT_VERSION) {
    throw corrupt(`has format version ${m.formatVersion}; this reader knows ${CHECKPOINT_FORMAT_VERSION}`);
  }
  return m;
}

async function verifiedFile(dir: string, manifest: Manifest, file: string): Promise<Buffer> {
  const data = await readOrCorrupt(dir, file);
  const expected = manifest.files[file];
  if (typeof expected !== 'string' || sha256(data) !== expected) {
    throw new CheckpointCorruptError(`checkpoint ${dir}: ${file} does not match its sha256 in the manifest`, dir, file);
  }
  return data;
}

/** Reads and verifies a checkpoint; throws CheckpointCorruptError naming the file at fault. */
export async function readCheckpoint(dir: string): Promise<Checkpoint> {
  try {
    await fs.access(dir);
  } catch {
    throw new CheckpointNotFoundError(`no checkpoint at ${dir}`, dir);
  }
  const manifest = parseManifest(dir, await readOrCorrupt(dir, CheckpointFiles.manifest));
  const bytes = await verifiedFile(dir, manifest, CheckpointFiles.tensors);
  const stateRaw = await verifiedFile(dir, manifest, CheckpointFiles.state);
  let expectedOffset = 0;
  const tensors = manifest.tensors.map((entry) => {
    const size = entry.shape.reduce((a, b) => a * b, 1);
    if (entry.offset !== expectedOffset || entry.length !== size) {
      throw new CheckpointCorruptError(`checkpoint ${dir}: index entry '${entry.name}' is inconsistent`, dir, CheckpointFiles.manifest);
    }
    expectedOffset += entry.length;
    return { name: entry.name, shape: [...entry.shape], data: decodeTensor(bytes, entry) };
  });
  if (expectedOffset * 4 !== bytes.length) {
    throw new CheckpointCorruptError(`checkpoint ${dir}: ${CheckpointFiles.tensors} size disagrees with the index`, dir, CheckpointFiles.tensors);
  }
  return { tensors, state: JSON.parse(stateRaw.toString('utf8')) as unknown };
}

const UPDATE_DIR = /^update-(\d{6,})$/;

/** The update number of a checkpoint directory path (`…/update-000040` → 40), or null for any other name. */
export function updateOfCheckpointDir(dir: string): number | null {
  const match = UPDATE_DIR.exec(path.basename(dir));
  return match ? Number(match[1]) : null;
}

/** Directory name of the checkpoint taken after `update` PPO updates: `update-000040`. */
export function checkpointDirName(update: number): string {
  if (!Number.isInteger(update) || update < 0) throw new RangeError(`checkpoint update must be a non-negative integer, got ${update}`);
  return `update-${String(update).padStart(6, '0')}`;
}

export interface CheckpointEntry {
  /** PPO updates completed when it was taken. */
  update: number;
  dir: string;
}

/**
 * The `update-NNNNNN` checkpoint directories under `root`, oldest first; nothing is verified.
 * Temporaries (`.tmp-`, `.old-`) and other names are ignored; a missing root gives [].
 */
export async function listCheckpoints(root: string): Promise<CheckpointEntry[]> {
  let names: string[];
  try {
    names = await fs.readdir(root);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const entries: CheckpointEntry[] = [];
  for (const name of names) {
    const match = UPDATE_DIR.exec(name);
    if (match) entries.push({ update: Number(match[1]), dir: path.join(root, name) });
  }
  return entries.sort((a, b) => a.update - b.update);
}

export interface VerifiedCheckpoint extends CheckpointEntry {
  checkpoint: Checkpoint;
}

export interface FindLatestOptions {
  /** Called for each newer checkpoint that did not verify, with the reason. */
  onSkip?: (dir: string, reason: string) => void;
}

/**
 * The newest checkpoint under `root` that verifies, already read, or null when none does.
 * Corrupt or torn ones are skipped (reported through `onSkip`); I/O errors other than a
 * missing file propagate, since they say nothing about the checkpoint itself.
 */
export async function findLatestVerified(root: string, opts: FindLatestOptions = {}): Promise<VerifiedCheckpoint | null> {
  const entries = await listCheckpoints(root);
  for (let i = entries.length - 1; i >= 0; i--) {
    const entry = entries[i];
    try {
      return { ...entry, checkpoint: await readCheckpoint(entry.dir) };
    } catch (err) {
      const name = (err as Error).name;
      if (name !== 'CheckpointCorruptError' && name !== 'CheckpointNotFoundError') throw err;
      opts.onSkip?.(entry.dir, (err as Error).message);
    }
  }
  return null;
}

/**
 * Deletes old checkpoints so a long run does not fill the disk: the newest `keepLast`
 * checkpoints that verify are kept, with everything newer than the oldest of them (a newer
 * corrupt one stays for inspection); every `update-NNNNNN` directory older than that goes.
 * Nothing is deleted when fewer than `keepLast` verify. Returns the deleted directories.
 */
export async function pruneCheckpoints(root: string, keepLast: number): Promise<string[]> {
  if (!Number.isInteger(keepLast) || keepLast < 1) throw new RangeError(`keepLast must be a positive integer, got ${keepLast}`);
  const entries = await listCheckpoints(root);
  let verified = 0;
  let cutoff = -1; // index of the oldest kept checkpoint
  for (let i = entries.length - 1; i >= 0 && verified < keepLast; i--) {
    try {
      await readCheckpoint(entries[i].dir);
      verified += 1;
      cutoff = i;
    } catch (err) {
      const name = (err as Error).name;
      if (name !== 'CheckpointCorruptError' && name !== 'CheckpointNotFoundError') throw err;
    }
  }
  if (verified < keepLast) return [];
  const doomed = entries.slice(0, cutoff).map((e) => e.dir);
  for (const dir of doomed) await fs.rm(dir, { recursive: true, force: true });
  return doomed;
}
