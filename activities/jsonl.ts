/**
 * JSON-lines files in the artifact store: how datasets travel between activities (only
 * their keys cross Temporal payloads). Written atomically (temp file + rename, as the
 * store's writeJson) so a crashed attempt never leaves half a dataset behind.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { ArtifactStore } from '../storage/artifact-store';

/** Writes one JSON value per line under `key`, replacing any previous file atomically. */
export async function writeJsonl(store: ArtifactStore, key: string, rows: readonly unknown[]): Promise<void> {
  const target = store.resolve(key);
  await mkdir(dirname(target), { recursive: true });
  const temp = `${target}.tmp-${randomBytes(6).toString('hex')}`;
  try {
    await writeFile(temp, rows.map((r) => JSON.stringify(r)).join('\n') + (rows.length ? '\n' : ''), 'utf8');
    await rename(temp, target);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}

/** Reads a file written by writeJsonl; blank lines are skipped. */
export async function readJsonl<T>(store: ArtifactStore, key: string): Promise<T[]> {
  const text = await readFile(store.resolve(key), 'utf8');
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as T);
}
