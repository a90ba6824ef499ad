/**
 * End to end through a real browser: a training run finished by the real pipeline (CPU + GPU
 * workers, real activities, Postgres, the tiniest config) is listed by the Temporal Web UI when
 * the workflows page is filtered by its `AgentId` search attribute, with its workflow id and
 * the Completed status; another agent's run is filtered out.
 *
 * The suite's shared dev server runs `--headless`, so this file starts its own dev server WITH
 * the Web UI (TEMPORAL_CLI_PATH, free loopback ports, its own SQLite file) and stops it after.
 * Chromium is Debian's, installed by scripts/install-chromium.sh; when it is missing the test
 * FAILS with install instructions, unless RLHF_SKIP_UI_TEST=1.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { defineSearchAttributeKey } from '@temporalio/common';
import type { Browser } from 'playwright-core';
import { SearchAttributeKeys } from '../../common/names';
import { FeedbackRepository, TrainingRunRepository } from '../../db/repositories';
import { Rng } from '../../ml/rng';
import { makeSyntheticFeedback } from '../../ml/synthetic-task';
import { LocalArtifactStore } from '../../storage/artifact-store';
import { trainingWorkflowType, type TrainPolicyInput, type TrainPolicyResult } from '../../contract/run-contract';
import {
  assertChromiumInstalled,
  keepPageOnLoopback,
  launchHeadlessChromium,
  startTemporalWithUi,
  uiTestSkipped,
  waitForHttpOk,
  type TemporalWithUi,
} from '../helpers/browser';
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { eventually, TINY_CONFIG_PATCH, uniqueId, uniqueQueues, withWorkers } from '../helpers/temporal';

const agentIdKey = defineSearchAttributeKey(SearchAttributeKeys.agentId, 'KEYWORD');

/** The UI marks each result row of the workflows table with this test id (UI 2.42). */
const ROW_TEST_ID = 'workflows-summary-configurable-table-row';
const CELL_TEST_ID = 'workflows-summary-table-body-cell';

/** Enough synthetic rows for the 80/20 split to leave a validation set (the minimum is 10). */
const FEEDBACK_ROWS = 20;

/** Where the screenshot goes; kept after the run so a person (or CI) can look at it. */
const SCREENSHOT_DIR = process.env.RLHF_UI_SCREENSHOT_DIR ?? path.join(tmpdir(), 'jest-ui-screenshots');

const describeUi = uiTestSkipped() ? describe.skip : describe;

/** `run_` + 20 url-safe characters, the API's run id shape (15 random bytes, base64url). */
function newRunId(): string {
  return `run_${randomBytes(15).toString('base64url')}`;
}

function agentQuery(agentId: string): string {
  return `${SearchAttributeKeys.agentId}="${agentId}"`;
}

describeUi('Temporal Web UI', () => {
  let temporal: TemporalWithUi | undefined;
  let db: TestDatabase | undefined;
  let browser: Browser | undefined;
  let artifactRoot: string | undefined;
  let serverDir: string | undefined;

  beforeAll(async () => {
    // First, so a machine without Chromium fails in a second with the fix, not after training.
    assertChromiumInstalled();
    const cliPath = process.env.TEMPORAL_CLI_PATH;
    if (!cliPath) throw new Error('TEMPORAL_CLI_PATH is not set: run the suite with `npm test` (scripts/test.sh provisions the Temporal CLI)');
    serverDir = await mkdtemp(path.join(tmpdir(), 'ui-temporal-'));
    temporal = await startTemporalWithUi({ cliPath, dbFilename: path.join(serverDir, 'dev.db') });
    db = await createTestDatabase();
    artifactRoot = await mkdtemp(path.join(process.env.ARTIFACT_ROOT ?? tmpdir(), 'ui-artifacts-'));
  });

  afterAll(async () => {
    await browser?.close();
    await db?.dispose();
    await temporal?.env.teardown();
    if (artifactRoot) await rm(artifactRoot, { recursive: true, force: true });
    if (serverDir) await rm(serverDir, { recursive: true, force: true });
  });

  it('lists a finished training run by its AgentId with its workflow id and Completed status', async () => {
    const { env, uiUrl } = temporal!;
    const agentId = uniqueId('ui-agent');
    const runId = newRunId();
    const workflowId = `train-${runId}`;
    const queues = uniqueQueues();

    // Feedback and the queued run record, as the API would leave them.
    const feedback = makeSyntheticFeedback(FEEDBACK_ROWS, new Rng(11));
    await new FeedbackRepository(db!.orm.em.fork()).insertMany(feedback.map((row) => ({ ...row, agentId, runId: 'ui-seed' })));
    await new TrainingRunRepository(db!.orm.em.fork()).create({ id: runId, workflowId, agentId, config: { preset: 'quick' } });

    // A decoy: another agent's run, never picked up (no worker polls its queue). The filter must hide it.
    const decoyId = `train-${newRunId()}`;
    const decoyAgentId = uniqueId('ui-other-agent');
    const decoy = await env.client.workflow.start(trainingWorkflowType, {
      taskQueue: uniqueId('nobody-polls'),
      workflowId: decoyId,
      args: [{ runId: newRunId(), agentId: decoyAgentId, preset: 'quick' } satisfies TrainPolicyInput],
      typedSearchAttributes: [{ key: agentIdKey, value: decoyAgentId }],
    });

    try {
      const input: TrainPolicyInput = { runId, agentId, preset: 'quick', seed: 5, configPatch: TINY_CONFIG_PATCH, taskQueues: queues };
      const result = await withWorkers(env, { orm: db!.orm, store: new LocalArtifactStore(artifactRoot!), queues }, async () => {
        const handle = await env.client.workflow.start(trainingWorkflowType, {
          taskQueue: queues.cpu,
          workflowId,
          args: [input],
          typedSearchAttributes: [{ key: agentIdKey, value: agentId }],
        });
        return (await handle.result()) as TrainPolicyResult;
      });
      expect(result).toMatchObject({ status: 'trained', runId, version: 'v1' });

      // The UI reads the visibility store; wait until it has the run as completed.
      await eventually(async () => {
        for await (const execution of env.client.workflow.list({ query: agentQuery(agentId) })) {
          if (execution.workflowId === workflowId && execution.status.name === 'COMPLETED') return true;
        }
        return undefined;
      }, 'the visibility store to list the completed run');

      await waitForHttpOk(uiUrl);
      browser = await launchHeadlessChromium();
      const page = await browser.newPage({ viewport: { width: 1600, height: 900 } });
      const blocked = await keepPageOnLoopback(page);
      await page.goto(`${uiUrl}/namespaces/default/workflows?query=${encodeURIComponent(agentQuery(agentId))}`);

      const rows = page.getByTestId(ROW_TEST_ID);
      const ourRow = rows.filter({ hasText: workflowId });
      try {
        await ourRow.waitFor({ state: 'visible', timeout: 30_000 });
      } catch (err) {
        await page.screenshot({ path: path.join(await screenshotDir(), `${workflowId}-not-found.png`), fullPage: true });
        throw new Error(`the UI never showed ${workflowId} (requests to non-loopback hosts blocked: ${blocked.join(', ') || 'none'})`, { cause: err });
      }

      const cells = (await ourRow.getByTestId(CELL_TEST_ID).allInnerTexts()).map((text) => text.trim());
      expect(cells).toContain('Completed');
      expect(cells).toContain(workflowId);
      expect(cells).toContain(trainingWorkflowType);
      // Only this agent's run: the decoy (another AgentId, still running) is filtered out.
      expect(await rows.count()).toBe(1);
      expect(await page.getByText(decoyId).count()).toBe(0);

      const screenshot = path.join(await screenshotDir(), `${workflowId}.png`);
      await page.screenshot({ path: screenshot, fullPage: true });
      const png = await readFile(screenshot);
      expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
    } finally {
      await decoy.terminate('UI test finished');
    }
  });
});

async function screenshotDir(): Promise<string> {
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  return SCREENSHOT_DIR;
}
