/**
 * JSON-lines files in the artifact store: how datasets travel between activities (only
 * their keys cross Temporal payloads). Written atomically (storage/atomic-write.ts, as the
 * store's writeJson) so a crashed attempt never leaves half a dataset behind.
 */
import { readFile } from 'node:fs/promises';
import type { ArtifactStore } from '../storage/artifact-store';
import { atomicWriteFile } from '../storage/atomic-write';

/** Writes one JSON value per line under `key`, replacing any previous file atomically. */
export async function writeJsonl(store: ArtifactStore, key: string, rows: readonly unknown[]): Promise<void> {
  await atomicWriteFile(store.resolve(key), rows.map((r) => JSON.stringify(r)).join('\n') + (rows.length ? '\n' : ''));
}

/** Reads a file written by writeJsonl; blank lines are skipped. */
export async function readJsonl<T>(store: ArtifactStore, key: string): Promise<T[]> {
  const text = await readFile(store.resolve(key), 'utf8');
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as T);
}
