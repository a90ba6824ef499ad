/**
 * The run page over a run that really trains: real CPU and GPU workers on the suite's Temporal
 * dev server, real Postgres, the API on loopback, headless Chromium, and the tiniest config
 * (test/helpers/temporal TINY_CONFIG_PATCH, with more updates). The page is opened as the run
 * starts. It must show updates arriving while the run is in progress, and end with the run's
 * evaluation, with one chart point per PPO update and no console errors. The run-page.test.ts
 * next to it checks each part of the page with recorded events. This one checks that the
 * events the workers really write draw. The screenshot of the page mid-run goes to
 * RLHF_UI_SCREENSHOT_DIR/run-page-live-run.png.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { FastifyInstance } from 'fastify';
import type { Browser } from 'playwright-core';
import { buildApp } from '../../api/app';
import { loadEnv } from '../../common/env';
import { TrainingRunRepository } from '../../db/repositories';
import { initBackend } from '../../ml/backend';
import { Rng } from '../../ml/rng';
import { makeSyntheticFeedback } from '../../ml/synthetic-task';
import { LocalArtifactStore } from '../../storage/artifact-store';
import { trainingWorkflowType, type TrainPolicyInput, type TrainPolicyResult } from '../../contract/run-contract';
import { createTestProjectKey, type TestProjectKey } from '../helpers/auth';
import { assertChromiumInstalled, keepPageOnLoopback, launchHeadlessChromium, uiTestSkipped } from '../helpers/browser';
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { connectTestEnv, eventually, TINY_CONFIG_PATCH, uniqueId, uniqueQueues, withWorkers } from '../helpers/temporal';

const SCREENSHOT_DIR = process.env.RLHF_UI_SCREENSHOT_DIR ?? path.join(tmpdir(), 'jest-ui-screenshots');
/** More updates than TINY's 4, so the page is open over several chunks of 2. */
const UPDATES = 8;
/** Enough synthetic rows for the 80/20 split to leave a validation set (the minimum is 10). */
const FEEDBACK_ROWS = 24;
// A whole tiny run on 2 shared cores takes seconds to a minute; the bound is for a loaded machine.
const RUN_WAIT = { timeout: 300_000 };
jest.setTimeout(400_000);

const describeUi = uiTestSkipped() ? describe.skip : describe;

describeUi('run page over a run that trains', () => {
  let env: TestWorkflowEnvironment;
  let db: TestDatabase;
  let app: FastifyInstance;
  let browser: Browser;
  let root: string;
  let mine: TestProjectKey;
  let baseUrl: string;

  beforeAll(async () => {
    assertChromiumInstalled();
    await initBackend({ log: () => undefined });
    env = await connectTestEnv();
    db = await createTestDatabase();
    root = await mkdtemp(path.join(process.env.ARTIFACT_ROOT ?? tmpdir(), 'run-page-live-'));
    app = await buildApp({ env: loadEnv({ ...process.env, DATABASE_URL: db.url, ARTIFACT_ROOT: root }) }, false);
    await app.listen({ host: '127.0.0.1', port: 0 });
    baseUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    mine = await createTestProjectKey(db.orm);
    browser = await launchHeadlessChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await db?.dispose();
    await env?.teardown();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('shows updates as they are trained and ends with the evaluation', async () => {
    const agentId = uniqueId('page-live-agent');
    const items = makeSyntheticFeedback(FEEDBACK_ROWS, new Rng(17)).map((row) => ({ ...row, runId: 'page-live-seed' }));
    const posted = await app.inject({ method: 'POST', url: `/api/policies/feedback/${agentId}/batch`, headers: mine.headers, payload: { items } });
    expect(posted.statusCode).toBe(201);

    const runId = `run_${uniqueId('live').replace(/-/g, '_')}`;
    const workflowId = `train-${runId}`;
    const queues = uniqueQueues();
    await new TrainingRunRepository(db.orm.em.fork()).create({ id: runId, workflowId, agentId, config: { preset: 'quick', maxSteps: UPDATES } });
    const input: TrainPolicyInput = {
      runId,
      agentId,
      preset: 'quick',
      seed: 7,
      configPatch: { ...TINY_CONFIG_PATCH, ppo: { ...TINY_CONFIG_PATCH.ppo, totalUpdates: UPDATES } },
      taskQueues: queues,
    };

    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const blocked = await keepPageOnLoopback(page);
    const consoleErrors: string[] = [];
    page.on('console', (msg) => {
      if (msg.type() === 'error') consoleErrors.push(msg.text());
    });
    page.on('pageerror', (err) => consoleErrors.push(err.message));

    const result = await withWorkers(env, { orm: db.orm, store: new LocalArtifactStore(root), queues }, async () => {
      const handle = await env.client.workflow.start(trainingWorkflowType, { taskQueue: queues.cpu, workflowId, args: [input] });
      await page.goto(`${baseUrl}/ui/runs/${runId}`);
      await page.fill('#key-input', mine.key);
      await page.click('#key-form button[type=submit]');

      // Every value the reward chart's point count takes while the page is open (the page opens
      // while the reward model trains, before any PPO update, so a live page sees it grow).
      await page.locator('figure.chart[data-metric="objective/scores"]').waitFor(RUN_WAIT);
      // (Browser code as strings: this project's tsconfig has no DOM types.)
      const rewardChart = `document.querySelector('figure.chart[data-metric="objective/scores"]')`;
      await page.evaluate(`(() => {
        const figure = ${rewardChart};
        const seen = (window.__seenPoints = []);
        if (figure.dataset.points !== undefined) seen.push(figure.dataset.points);
        new MutationObserver(() => seen.push(figure.dataset.points)).observe(figure, { attributes: true, attributeFilter: ['data-points'] });
      })()`);
      // Polled from the test, not with waitForFunction: that evals a string in the page, which the page's CSP refuses.
      const points = page.locator('figure.chart[data-metric="objective/scores"]');
      await eventually(async () => (Number((await points.getAttribute('data-points')) ?? 0) >= 3 ? true : undefined), 'three updates on the page', RUN_WAIT.timeout);
      // The KL target comes from the workflow's progress query (the run view), read when PPO began.
      const klSettings = page.locator('#kl-settings');
      await eventually(async () => ((await klSettings.textContent())?.endsWith('/ 6') ? true : undefined), 'the KL target of the quick preset (6)', RUN_WAIT.timeout);
      expect(await page.locator('figure.chart[data-metric="objective/kl"] line.ref').count()).toBe(1);
      await mkdir(SCREENSHOT_DIR, { recursive: true });
      await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'run-page-live-run.png'), fullPage: true });

      return (await handle.result()) as TrainPolicyResult;
    });
    expect(result).toMatchObject({ status: 'trained', runId });

    // The end: every update drawn, the evaluation the run produced, the stream closed.
    await page.locator('#live[data-state="ended"]').waitFor(RUN_WAIT);
    await expect(page.locator('figure.chart[data-metric="objective/scores"]').getAttribute('data-points')).resolves.toBe(String(UPDATES));
    const seen = (await page.evaluate('window.__seenPoints')) as string[];
    const counts = [...new Set(seen.map(Number))];
    // Drawn from the stream as the run went: more than one count, ending at every update.
    expect(counts.length).toBeGreaterThan(1);
    expect(counts[counts.length - 1]).toBe(UPDATES);
    await expect(page.locator('#step').textContent()).resolves.toBe(`${UPDATES} / ${UPDATES}`);
    await expect(page.locator('#status').textContent()).resolves.toBe('completed');
    await page.locator(`#evaluation .verdict[data-verdict="${result.evaluation?.verdict}"]`).waitFor(RUN_WAIT);
    expect(await page.locator('#samples tbody tr[data-update]').count()).toBeGreaterThan(0);
    expect(await page.locator('#checkpoints li').count()).toBeGreaterThan(0);
    await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'run-page-live-run-ended.png'), fullPage: true });
    expect(blocked).toEqual([]);
    expect(consoleErrors).toEqual([]);
    await page.close();
  });
});
