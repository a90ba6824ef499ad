/**
 * Crash-safe file replacement: write a hidden temp sibling, fsync it, rename it over the
 * target, fsync the directory. rename(2) within one directory is atomic on POSIX file
 * systems, so a reader (or a process restarted after a crash) sees the old file or the
 * whole new one, never a prefix; the directory fsync makes the rename itself durable.
 * (The classic recipe; see e.g. the LWN article "Ensuring data reaches disk", 2011.)
 * A writer killed mid-write leaves only a `.tmp-*` sibling, which artifact keys can never name.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';

/** Whole contents, or chunks streamed as they are produced (large weights, piped input). */
export type WritableData = string | Uint8Array | AsyncIterable<Uint8Array | string>;

/** A hidden sibling of `target` (same directory, hence same file system, so rename is atomic). */
export function hiddenSiblingPath(target: string, tag: 'tmp' | 'trash'): string {
  return path.join(path.dirname(target), `.${tag}-${path.basename(target)}-${randomBytes(6).toString('hex')}`);
}

/** fsync a directory so that entries created or renamed in it survive a power loss. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function writeAll(file: string, data: WritableData): Promise<void> {
  // 'wx': the temp name is fresh; failing if it exists rules out two writers sharing it.
  const handle = await open(file, 'wx', 0o644);
  try {
    if (typeof data === 'string' || data instanceof Uint8Array) {
      await handle.writeFile(data);
    } else {
      for await (const chunk of data) await handle.write(typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk);
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Atomically replaces `target` with `data`, creating parent directories as needed. */
export async function atomicWriteFile(target: string, data: WritableData): Promise<void> {
  const dir = path.dirname(target);
  await mkdir(dir, { recursive: true });
  const temp = hiddenSiblingPath(target, 'tmp');
  try {
    await writeAll(temp, data);
    await rename(temp, target);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
  await fsyncDir(dir);
}
