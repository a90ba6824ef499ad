/**
 * Replays the recorded histories in test/histories/ (see record.ts there) against the
 * current workflow code: any change that alters the commands a recorded run issued fails
 * here before it can break runs in flight. A deliberately changed workflow must fail.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { Worker, type ReplayResult } from '@temporalio/worker';
import { WORKFLOWS_PATH } from '../../worker/create-worker';
import { historyFromPortableJson, installQuietRuntime } from '../helpers/temporal';

const HISTORY_DIR = path.join(__dirname, '..', 'histories');

beforeAll(installQuietRuntime);

async function recordedHistories() {
  const files = (await readdir(HISTORY_DIR)).filter((f) => f.endsWith('.json')).sort();
  return Promise.all(
    files.map(async (file) => ({ workflowId: file.replace(/\.json$/, ''), history: historyFromPortableJson(await readFile(path.join(HISTORY_DIR, file), 'utf8')) })),
  );
}

async function replayAll(workflowsPath: string): Promise<ReplayResult[]> {
  const results: ReplayResult[] = [];
  for await (const result of Worker.runReplayHistories({ workflowsPath }, await recordedHistories())) results.push(result);
  return results;
}

it('has the recorded runs to replay: a completed chain and a gate failure', async () => {
  const ids = (await recordedHistories()).map((h) => h.workflowId);
  expect(ids).toEqual(['completed-run-1', 'completed-run-2', 'gate-failed-run']);
});

it('the current workflow replays every recorded history without a determinism error', async () => {
  const results = await replayAll(WORKFLOWS_PATH);
  expect(results.map((r) => [r.workflowId, r.error?.message ?? null])).toEqual([
    ['completed-run-1', null],
    ['completed-run-2', null],
    ['gate-failed-run', null],
  ]);
});

it('a workflow that reorders its activities fails replay with DeterminismViolationError', async () => {
  const results = await replayAll(require.resolve('./changed-workflow'));
  expect(results).toHaveLength(3);
  for (const r of results) expect(r.error?.name).toBe('DeterminismViolationError');
});
