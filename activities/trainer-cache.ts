/**
 * The live PPO trainer a worker process keeps between the chunks of one run.
 *
 * Why: without it every chunk, and the final export, re-reads the config and prompts and
 * re-opens the SFT policy, the reward model and the checkpoint the previous chunk of the same
 * process has just written from that very trainer (bench/RESULTS.md section 1 measures it).
 *
 * Durability is unchanged: every checkpoint is still written and fsynced before its
 * heartbeat, and the cache is only an alternative to reading back what was written. An entry
 * is used only when all of these hold (ppo-chunk.ts checks the last one):
 *   - same run and same input artifacts: refs equal, and each artifact's file-system identity
 *     (inode, size, mtime, ctime) unchanged, so an artifact rewritten under the same key is
 *     re-read;
 *   - the chunk's start is exactly the checkpoint the trainer last wrote (ref and update);
 *   - that checkpoint still verifies on disk (sha256 of every file against its manifest) and
 *     holds exactly the trainer's state (`sameCheckpoint`): memory never wins over a
 *     checkpoint that differs.
 * Anything else (a retry resuming elsewhere, a fallback past a corrupt checkpoint, another
 * run's chunk, a retried attempt on another worker) restores from disk as before. An entry
 * is taken out while a chunk uses it, so two concurrent activities never share one; it goes
 * back only when the chunk succeeded, and is disposed on any failure or cancel.
 * Bounded to `capacity` runs (least recently used out first), since each entry holds a
 * policy and a reward model in (accelerator) memory.
 */
import { stat } from 'node:fs/promises';
import type { Checkpoint } from '../ml/checkpoint';
import type { CheckpointInfo } from '../contract/run-contract';

export interface CachedValue {
  dispose(): void;
}

interface Entry<T extends CachedValue> {
  runId: string;
  /** What the value was built from (refs and their identity on disk: `artifactIdentity`). */
  inputs: string;
  /** The checkpoint the value's state was last written to. */
  at: CheckpointInfo;
  value: T;
}

export class TrainerCache<T extends CachedValue> {
  /** Least recently used first; at most one per run. */
  private entries: Entry<T>[] = [];

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 0) throw new RangeError(`trainer cache capacity must be a non-negative integer, got ${capacity}`);
  }

  get size(): number {
    return this.entries.length;
  }

  /**
   * Removes and returns the run's value when it was built from `inputs` and last written to
   * checkpoint `at` (same ref and update); the caller owns it from now on. A value of the run
   * that differs in either is stale (the run went on elsewhere, or an input was rewritten):
   * it is disposed. Null when nothing matches.
   */
  take(runId: string, inputs: string, at: CheckpointInfo): T | null {
    const i = this.entries.findIndex((e) => e.runId === runId);
    if (i < 0) return null;
    const [entry] = this.entries.splice(i, 1);
    if (entry.inputs === inputs && entry.at.ref === at.ref && entry.at.update === at.update) return entry.value;
    entry.value.dispose();
    return null;
  }

  /** Keeps the run's `value` (written to checkpoint `at`), disposing whatever it replaces or pushes out. */
  put(runId: string, inputs: string, at: CheckpointInfo, value: T): void {
    this.evict(runId);
    if (this.capacity === 0) {
      value.dispose();
      return;
    }
    this.entries.push({ runId, inputs, at, value });
    while (this.entries.length > this.capacity) this.entries.shift()!.value.dispose();
  }

  /** Disposes the run's value, if any. */
  evict(runId: string): void {
    const i = this.entries.findIndex((e) => e.runId === runId);
    if (i >= 0) this.entries.splice(i, 1)[0].value.dispose();
  }

  /** Disposes every value. */
  clear(): void {
    for (const e of this.entries.splice(0)) e.value.dispose();
  }
}

/**
 * True when two checkpoints hold the same state: the same tensors (names, shapes, float32
 * bytes, in order) and the same JSON state. `disk` is what readCheckpoint returned (its JSON
 * went through a write and a parse), so both states are compared as JSON text.
 */
export function sameCheckpoint(memory: Checkpoint, disk: Checkpoint): boolean {
  if (memory.tensors.length !== disk.tensors.length) return false;
  const tensorsEqual = memory.tensors.every((m, i) => {
    const d = disk.tensors[i];
    if (m.name !== d.name || m.shape.length !== d.shape.length || m.shape.some((n, k) => n !== d.shape[k])) return false;
    return Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength).equals(Buffer.from(d.data.buffer, d.data.byteOffset, d.data.byteLength));
  });
  return tensorsEqual && JSON.stringify(memory.state ?? null) === JSON.stringify(disk.state ?? null);
}

/**
 * One string naming `paths` and their file-system identity (inode, size, mtime, ctime): it
 * changes when a file or directory is replaced, even under the same name. Cheap (one stat
 * each); a missing path throws, as opening it would.
 */
export async function artifactIdentity(paths: readonly string[]): Promise<string> {
  const parts = await Promise.all(
    paths.map(async (p) => {
      const s = await stat(p, { bigint: true });
      return `${p}@${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
    }),
  );
  return parts.join('|');
}
