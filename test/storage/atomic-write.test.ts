/**
 * storage/atomic-write.ts, the one durable-write implementation (issue 16): whole files, a
 * synced file published by rename, and a directory published as one. Files are 0600 and
 * directories 0700, because artifacts hold customers' feedback text (issue 17).
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { atomicReplaceDir, atomicWriteFile, publishSyncedFile, writeSyncedFile } from '../../storage/atomic-write';
import { writeCheckpoint } from '../../ml/checkpoint';
import { writeTrainingResults } from '../../ml/training-results';

let root: string;
beforeEach(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'atomic-write-'));
});
afterEach(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

const modeOf = async (p: string): Promise<number> => (await fs.stat(p)).mode & 0o777;

it('writes files 0600, whatever the umask allows', async () => {
  const file = path.join(root, 'a', 'b.json');
  await atomicWriteFile(file, '{"x":1}');
  expect(await fs.readFile(file, 'utf8')).toBe('{"x":1}');
  expect(await modeOf(file)).toBe(0o600);
  // Replacing keeps the mode (the new file is a new inode, created 0600 as well).
  await atomicWriteFile(file, '{"x":2}');
  expect(await modeOf(file)).toBe(0o600);
});

it('publishes a synced file by rename and leaves nothing else behind', async () => {
  const target = path.join(root, 'weights.bin');
  const partial = `${target}.partial`;
  await writeSyncedFile(partial, new Uint8Array([1, 2, 3]));
  await publishSyncedFile(partial, target);
  expect([...(await fs.readFile(target))]).toEqual([1, 2, 3]);
  expect(await fs.readdir(root)).toEqual(['weights.bin']);
});

it('replaces a directory as one: the old contents or the new, never a mixture, and no temporaries left', async () => {
  const target = path.join(root, 'ck');
  await atomicReplaceDir(target, async (dir) => {
    await writeSyncedFile(path.join(dir, 'one'), 'old-1');
    await writeSyncedFile(path.join(dir, 'two'), 'old-2');
  });
  expect(await modeOf(target)).toBe(0o700);
  // A fill that fails midway leaves the old directory untouched.
  await expect(
    atomicReplaceDir(target, async (dir) => {
      await writeSyncedFile(path.join(dir, 'one'), 'new-1');
      throw new Error('disk full');
    }),
  ).rejects.toThrow('disk full');
  expect(await fs.readFile(path.join(target, 'one'), 'utf8')).toBe('old-1');
  await atomicReplaceDir(target, async (dir) => {
    await writeSyncedFile(path.join(dir, 'one'), 'new-1');
  });
  expect((await fs.readdir(target)).sort()).toEqual(['one']);
  expect(await fs.readFile(path.join(target, 'one'), 'utf8')).toBe('new-1');
  expect(await fs.readdir(root)).toEqual(['ck']);
});

it('the ML writers go through it: checkpoint and training-results files are 0600', async () => {
  const ck = path.join(root, 'update-000001');
  await writeCheckpoint(ck, { tensors: [{ name: 'w', shape: [2], data: new Float32Array([1, 2]) }], state: { step: 1 } });
  for (const f of await fs.readdir(ck)) expect(await modeOf(path.join(ck, f))).toBe(0o600);
  const results = path.join(root, 'v1');
  const file = await writeTrainingResults(results, { history: [] } as unknown as Parameters<typeof writeTrainingResults>[1]);
  expect(await modeOf(file)).toBe(0o600);
});
