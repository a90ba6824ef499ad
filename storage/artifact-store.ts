/**
 * Where datasets, reward models, checkpoints and published policies live. Activities and the
 * API address artifacts by key (see artifact-keys.ts), never by a path they build themselves,
 * and only keys cross Temporal payloads. LocalArtifactStore keeps them under one directory
 * (ARTIFACT_ROOT); every write is atomic, so a crashed or retried activity never leaves a
 * half-written artifact that looks complete.
 */
import { copyFile, mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { parseArtifactKey } from './artifact-keys';
import { atomicWriteFile, fsyncDir, hiddenSiblingPath, type WritableData } from './atomic-write';
import { ArtifactCorruptError, ArtifactExistsError, ArtifactNotFoundError, InvalidArtifactKeyError } from './errors';

export { checkpointKey, checkpointsKey, policyKey, runKey } from './artifact-keys';
export * as artifactKeys from './artifact-keys';

export interface ArtifactStore {
  /** Absolute root directory. */
  readonly root: string;
  /** Absolute path of `key` (validated; need not exist yet), for libraries that take paths. */
  resolve(key: string): string;
  /** Atomically replaces the JSON file at `key` (temp + fsync + rename). */
  writeJson(key: string, value: unknown): Promise<void>;
  /** Parses the JSON file at `key`; ArtifactNotFoundError when absent. */
  readJson<T>(key: string): Promise<T>;
  exists(key: string): Promise<boolean>;
  /** Keys of the entries directly under `prefix` ('' = the root), sorted; [] when absent. */
  list(prefix: string): Promise<string[]>;
  /** Removes a file or a whole directory; no-op when absent. */
  remove(key: string): Promise<void>;
  /** Copies a directory tree; `toKey` appears whole or not at all. ArtifactExistsError if it exists. */
  copyDir(fromKey: string, toKey: string): Promise<void>;
}

/** Duck-typed: Node's fs errors fail `instanceof Error` across jest realms. */
function isErrno(err: unknown, ...codes: string[]): boolean {
  const code = typeof err === 'object' && err !== null ? (err as NodeJS.ErrnoException).code : undefined;
  return typeof code === 'string' && codes.includes(code);
}

/** Copies regular files and directories; anything else (symlinks, FIFOs) could escape the root or block. */
async function copyTree(from: string, to: string, key: string): Promise<void> {
  await mkdir(to);
  const entries = await readdir(from, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    const src = path.join(from, entry.name);
    const dst = path.join(to, entry.name);
    if (entry.isDirectory()) await copyTree(src, dst, key);
    else if (entry.isFile()) {
      await copyFile(src, dst);
      const handle = await open(dst, 'r+');
      await handle.sync().finally(() => handle.close());
    } else throw new ArtifactCorruptError(key, `${entry.name} is neither a regular file nor a directory`);
  }
  await fsyncDir(to);
}

export class LocalArtifactStore implements ArtifactStore {
  readonly root: string;

  constructor(root: string) {
    this.root = path.resolve(root);
  }

  resolve(key: string): string {
    const resolved = path.join(this.root, ...parseArtifactKey(key));
    // Defence in depth: validation already rules this out.
    if (!resolved.startsWith(this.root + path.sep)) throw new InvalidArtifactKeyError(key, 'outside the root');
    return resolved;
  }

  async writeJson(key: string, value: unknown): Promise<void> {
    await this.writeFile(key, `${JSON.stringify(value, null, 2)}\n`);
  }

  /** Atomically replaces the file at `key` with bytes, text or streamed chunks. */
  async writeFile(key: string, data: WritableData): Promise<void> {
    await atomicWriteFile(this.resolve(key), data);
  }

  async readJson<T>(key: string): Promise<T> {
    let text: string;
    try {
      text = await readFile(this.resolve(key), 'utf8');
    } catch (err) {
      if (isErrno(err, 'ENOENT', 'ENOTDIR')) throw new ArtifactNotFoundError(key);
      throw err;
    }
    try {
      return JSON.parse(text) as T;
    } catch (err) {
      throw new ArtifactCorruptError(key, String((err as Error).message ?? err));
    }
  }

  async exists(key: string): Promise<boolean> {
    try {
      await stat(this.resolve(key));
      return true;
    } catch (err) {
      if (isErrno(err, 'ENOENT', 'ENOTDIR')) return false;
      throw err;
    }
  }

  async list(prefix: string): Promise<string[]> {
    const dir = prefix === '' ? this.root : this.resolve(prefix);
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (err) {
      if (isErrno(err, 'ENOENT', 'ENOTDIR')) return [];
      throw err;
    }
    const keys: string[] = [];
    for (const name of names.sort()) {
      const key = prefix === '' ? name : `${prefix}/${name}`;
      try {
        parseArtifactKey(key);
        keys.push(key);
      } catch {
        // Temp and trash siblings (".tmp-*", ".trash-*") and foreign files are not artifacts.
      }
    }
    return keys;
  }

  async remove(key: string): Promise<void> {
    const target = this.resolve(key);
    // Rename first, so a crash mid-delete never leaves a half-deleted directory under a valid key.
    const trash = hiddenSiblingPath(target, 'trash');
    try {
      await rename(target, trash);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return;
      throw err;
    }
    await fsyncDir(path.dirname(target));
    await rm(trash, { recursive: true, force: true });
  }

  async copyDir(fromKey: string, toKey: string): Promise<void> {
    const from = this.resolve(fromKey);
    const to = this.resolve(toKey);
    const source = await stat(from).catch((err: unknown) => {
      if (isErrno(err, 'ENOENT', 'ENOTDIR')) throw new ArtifactNotFoundError(fromKey);
      throw err;
    });
    if (!source.isDirectory()) throw new ArtifactNotFoundError(fromKey);
    if (await this.exists(toKey)) throw new ArtifactExistsError(toKey);
    await mkdir(path.dirname(to), { recursive: true });
    const temp = hiddenSiblingPath(to, 'tmp');
    try {
      await copyTree(from, temp, fromKey);
      // rename(2) refuses to replace a non-empty directory: a racing copy that won stays intact.
      await rename(temp, to).catch((err: unknown) => {
        if (isErrno(err, 'ENOTEMPTY', 'EEXIST', 'ENOTDIR')) throw new ArtifactExistsError(toKey);
        throw err;
      });
    } catch (err) {
      await rm(temp, { recursive: true, force: true });
      throw err;
    }
    await fsyncDir(path.dirname(to));
  }
}
