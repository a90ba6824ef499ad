/**
 * Replays the recorded scheduled-retraining actions in test/histories/scheduled/ (see record.ts
 * there) against the current workflow code: one that skipped, one that ran its training run as a
 * child to completion. A deliberately changed workflow must fail.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { Worker, type ReplayResult } from '@temporalio/worker';
import { WORKFLOWS_PATH } from '../../worker/create-worker';
import { historyFromPortableJson, installQuietRuntime } from '../helpers/temporal';

const HISTORY_DIR = path.join(__dirname, '..', 'histories', 'scheduled');

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

it('the current workflow replays every recorded action without a determinism error', async () => {
  const results = await replayAll(WORKFLOWS_PATH);
  expect(results.map((r) => [r.workflowId, r.error?.message ?? null])).toEqual([
    ['skipped-action', null],
    ['started-action', null],
  ]);
});

it('a workflow that schedules a different first activity fails replay with DeterminismViolationError', async () => {
  const results = await replayAll(require.resolve('./changed-scheduled-workflow'));
  expect(results).toHaveLength(2);
  for (const r of results) expect(r.error?.name).toBe('DeterminismViolationError');
});
