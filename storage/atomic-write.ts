/**
 * Crash-safe file replacement: write a hidden temp sibling, fsync it, rename it over the
 * target, fsync the directory. rename(2) within one directory is atomic on POSIX file
 * systems, so a reader (or a process restarted after a crash) sees the old file or the
 * whole new one, never a prefix; the directory fsync makes the rename itself durable.
 * (The classic recipe; see e.g. the LWN article "Ensuring data reaches disk", 2011.)
 * A writer killed mid-write leaves only a `.tmp-*` sibling, which artifact keys can never name.
 *
 * This is the project's one implementation of a durable write (issue 16): whole files
 * (`atomicWriteFile`), a file already written and synced elsewhere, such as a resumable
 * download (`publishSyncedFile`), and a directory of files published as one (`atomicReplaceDir`,
 * for checkpoints: readers see the old directory or the complete new one).
 *
 * Files are created 0600 and directories 0700: artifacts hold customers' prompts and responses,
 * which no other local user may read (issue 17). Set the process umask or a group ACL to widen it.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';

/** Whole contents, or chunks streamed as they are produced (large weights, piped input). */
export type WritableData = string | Uint8Array | AsyncIterable<Uint8Array | string>;

/** Mode of every file written here (owner read/write only). */
export const ARTIFACT_FILE_MODE = 0o600;
/** Mode of every directory created for a replacement (owner only). */
export const ARTIFACT_DIR_MODE = 0o700;

/** A hidden sibling of `target` (same directory, hence same file system, so rename is atomic). */
export function hiddenSiblingPath(target: string, tag: 'tmp' | 'trash' | 'old'): string {
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

/**
 * Writes a NEW file and fsyncs it; not atomic by itself. For files inside a directory that
 * `atomicReplaceDir` publishes, or a temp file that `publishSyncedFile` renames.
 */
export async function writeSyncedFile(file: string, data: WritableData): Promise<void> {
  // 'wx': the name is fresh; failing if it exists rules out two writers sharing it.
  const handle = await open(file, 'wx', ARTIFACT_FILE_MODE);
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
    await writeSyncedFile(temp, data);
    await rename(temp, target);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
  await fsyncDir(dir);
}

/**
 * Renames `synced` (a file in the same directory as `target`, already fsynced by its writer)
 * over `target` and fsyncs the directory. For writers that must append to their temp file
 * across attempts, e.g. a resumable download.
 */
export async function publishSyncedFile(synced: string, target: string): Promise<void> {
  await rename(synced, target);
  await fsyncDir(path.dirname(target));
}

/**
 * Builds a directory and publishes it as one: `fill` writes into a fresh hidden sibling of
 * `target` (use `writeSyncedFile`; write any "complete" marker last), which is then fsynced and
 * renamed to `target`. An existing `target` is moved aside first and deleted after, so it is
 * never partly overwritten; a crash between the two renames leaves the new directory under a
 * hidden `.old-`/`.tmp-` name and the old one intact or gone, never a mixture.
 */
export async function atomicReplaceDir(target: string, fill: (dir: string) => Promise<void>): Promise<void> {
  const parent = path.dirname(target);
  await mkdir(parent, { recursive: true });
  const temp = hiddenSiblingPath(target, 'tmp');
  await mkdir(temp, { mode: ARTIFACT_DIR_MODE });
  try {
    await fill(temp);
    await fsyncDir(temp);
    await publishDir(temp, target);
  } catch (err) {
    await rm(temp, { recursive: true, force: true });
    throw err;
  }
  await fsyncDir(parent);
}

async function publishDir(temp: string, target: string): Promise<void> {
  try {
    await rename(temp, target);
    return;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
  }
  const old = hiddenSiblingPath(target, 'old');
  await rename(target, old);
  await rename(temp, target);
  await rm(old, { recursive: true, force: true });
}
