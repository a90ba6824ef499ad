/**
 * The live run page (/ui/runs/:runId) in headless Chromium, against the real API listening on a
 * loopback port, real Postgres and the suite's Temporal dev server. The run's workflow is started
 * in Temporal on a task queue no worker polls (so pause is a real signal the server records), and
 * its events are recorded through the workers' own run-event sink (activities/run-events.ts)
 * instead of training a model: the page reads them through the real /api routes and the SSE stream.
 *
 * It checks that the page asks for the key and keeps it out of URLs, draws the charts and the
 * samples from the history, shows an update recorded while it is open (SSE), reconnects after the
 * stream is cut and gets the update recorded meanwhile (Last-Event-ID), pauses the run from
 * its button, shows the evaluation and the end, writes hostile sample text as text (CSP and
 * textContent), and shows nothing of another project's run. The screenshot of the live page goes to
 * RLHF_UI_SCREENSHOT_DIR (default: <tmp>/jest-ui-screenshots/run-page.png); docs/run-page.png is one.
 */
import { mkdir } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Browser, Page } from 'playwright-core';
import { runEventLog, type RunEventSink } from '../../activities/run-events';
import { buildApp } from '../../api/app';
import { UI_CONTENT_SECURITY_POLICY } from '../../api/routes/ui';
import type { EvaluationReport } from '../../common/evaluation-report';
import { loadEnv } from '../../common/env';
import { MetricKeys, RunPhases, type UpdateMetrics } from '../../common/names';
import type { UpdateSample } from '../../common/run-events';
import { createRepositories, type Repositories } from '../../db/repositories';
import { trainingWorkflowType, type TrainPolicyInput } from '../../contract/run-contract';
import { pauseSignal, setKlSignal } from '../../workflows/messages';
import { createTestProjectKey, type TestProjectKey } from '../helpers/auth';
import { assertChromiumInstalled, keepPageOnLoopback, launchHeadlessChromium, uiTestSkipped } from '../helpers/browser';
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { eventually, uniqueId } from '../helpers/temporal';

const SCREENSHOT_DIR = process.env.RLHF_UI_SCREENSHOT_DIR ?? path.join(tmpdir(), 'jest-ui-screenshots');
/** PPO updates of the pretend run, and how many are recorded before the page opens. */
const TOTAL_UPDATES = 12;
const RECORDED_BEFORE_OPEN = 5;
/** The history is spaced as if an update took this long (so the page's ETA has something to measure). */
const SECONDS_PER_UPDATE = 2;
/** Sample text a page that wrote markup would run: the test checks it shows up as text and runs nothing. */
const HOSTILE_RESPONSE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script> thanks!';
const WAIT = { timeout: 30_000 };

let db: TestDatabase;
let app: FastifyInstance;
let baseUrl: string;
let mine: TestProjectKey;
let theirs: TestProjectKey;
let events: RunEventSink;
const startedWorkflows: string[] = [];
const repos = (): Repositories => createRepositories(db.orm.em.fork());

beforeAll(async () => {
  db = await createTestDatabase();
  app = await buildApp({ env: loadEnv({ ...process.env, DATABASE_URL: db.url }) }, false);
  // A browser needs a real socket: the one test file that listens, on loopback.
  await app.listen({ host: '127.0.0.1', port: 0 });
  baseUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  mine = await createTestProjectKey(db.orm);
  theirs = await createTestProjectKey(db.orm);
  events = runEventLog(db.orm);
});
afterAll(async () => {
  for (const id of startedWorkflows) await app.temporal.workflow.getHandle(id).terminate('test cleanup').catch(() => undefined);
  await app.close();
  await db.dispose();
});

/** Plausible curves (reward up, KL up, entropy down), deterministic; every metric key present. */
function metricsAt(u: number): UpdateMetrics {
  const m = Object.fromEntries(Object.values(MetricKeys).map((k) => [k, 0])) as UpdateMetrics;
  const wiggle = Math.sin(u * 1.7) * 0.05;
  m[MetricKeys.scores] = -0.6 + 0.11 * u + wiggle;
  m[MetricKeys.klObjective] = 0.35 * u + Math.sin(u) * 0.2;
  m[MetricKeys.klCoef] = 0.2 * (1 + 0.015 * u);
  m[MetricKeys.rlhfReward] = m[MetricKeys.scores] - m[MetricKeys.klCoef] * m[MetricKeys.klObjective];
  m[MetricKeys.entropy] = 2.6 - 0.09 * u + wiggle;
  m[MetricKeys.valueLoss] = 0.8 * Math.exp(-0.25 * u) + 0.05;
  m[MetricKeys.clipFrac] = 0.06 + wiggle / 5;
  m[MetricKeys.responseLength] = 11 + 0.7 * u;
  m[MetricKeys.learningRate] = 1e-4;
  return m;
}

function samplesAt(u: number): UpdateSample[] {
  return [
    { prompt: 'Customer: my order #1042 arrived broken.\nAgent:', response: u === RECORDED_BEFORE_OPEN ? HOSTILE_RESPONSE : `Sorry about that! I have sent a replacement (update ${u}).`, score: -0.2 + 0.1 * u },
    { prompt: 'Customer: how do I reset my password?\nAgent:', response: `Click "Forgot password" on the sign-in page (update ${u}).`, score: 0.1 * u },
  ];
}

async function recordUpdate(runId: string, u: number): Promise<void> {
  await events.update(runId, { update: u, total: TOTAL_UPDATES, metrics: metricsAt(u), samples: samplesAt(u) });
}

/** Moves update `u`'s history row and event SECONDS_PER_UPDATE × (last − u) into the past. */
async function spaceHistory(runId: string, last: number): Promise<void> {
  const em = db.orm.em.fork();
  await em.execute(`update run_update set created_at = now() - ((? - update) * interval '${SECONDS_PER_UPDATE} second') where run_id = ?`, [last, runId]);
  await em.execute(
    `update run_event set created_at = now() - ((? - (data->>'update')::int) * interval '${SECONDS_PER_UPDATE} second') where run_id = ? and kind = 'update'`,
    [last, runId],
  );
}

const interval = (mean: number, half: number) => ({ mean, lo: mean - half, hi: mean + half });
const EVALUATION: EvaluationReport = {
  prompts: 16,
  samplesPerPrompt: 4,
  seed: 5,
  start: { rewardMean: interval(-0.41, 0.12), klToReference: interval(0, 0), responseLength: interval(11.2, 1.1), emptyFraction: 0.03, distinct1: 0.41, distinct2: 0.62 },
  final: { rewardMean: interval(0.58, 0.1), klToReference: interval(3.9, 0.6), responseLength: interval(18.4, 1.4), emptyFraction: 0, distinct1: 0.38, distinct2: 0.6 },
  rewardGain: interval(0.99, 0.15),
  winRate: interval(0.81, 0.06),
  significant: true,
  verdict: 'improved',
  reason: null,
  pairs: [{ prompt: 'Customer: my order #1042 arrived broken.\nAgent:', start: 'ok', final: 'Sorry about that! I have sent a replacement.', startReward: -0.5, finalReward: 0.7 }],
};

/** Names of the signals in the workflow's history, once it holds `count` of them. */
function signalsOf(workflowId: string, count: number): Promise<string[]> {
  return eventually(async () => {
    const history = await app.temporal.workflow.getHandle(workflowId).fetchHistory();
    const names = (history.events ?? []).flatMap((e) => (e.workflowExecutionSignaledEventAttributes?.signalName ? [e.workflowExecutionSignaledEventAttributes.signalName] : []));
    return names.length >= count ? names : undefined;
  }, `${count} signals in the history of ${workflowId}`);
}

/** A run of `key`'s project with a real workflow in Temporal that no worker picks up. */
async function startRun(key: TestProjectKey): Promise<{ runId: string; workflowId: string }> {
  const agentId = uniqueId('page-agent');
  const runId = `run_${uniqueId('page').replace(/-/g, '_')}`.slice(0, 64);
  const workflowId = `train-${runId}`;
  const r = repos();
  await r.agents.claim(agentId, key.projectId);
  await r.trainingRuns.create({ id: runId, workflowId, agentId, config: { preset: 'quick', maxSteps: TOTAL_UPDATES } });
  await app.temporal.workflow.start(trainingWorkflowType, {
    taskQueue: uniqueId('nobody-polls'),
    workflowId,
    args: [{ runId, agentId, preset: 'quick' } satisfies TrainPolicyInput],
  });
  startedWorkflows.push(workflowId);
  await repos().trainingRuns.setStatus(runId, 'running');
  return { runId, workflowId };
}

/** What the workers record up to PPO update `updates`: phases, the gate, updates, a checkpoint, a guardrail trip. */
async function recordTraining(runId: string, updates: number): Promise<void> {
  await events.phase(runId, RunPhases.rewardModel);
  await events.rewardModel(runId, { valMse: 0.31, valMae: 0.44, valPearson: 0.72, valSpearman: 0.69, minValPearson: 0.3, passed: true });
  await events.phase(runId, RunPhases.ppo);
  for (let u = 1; u <= updates; u++) {
    await recordUpdate(runId, u);
    if (u === 2) await events.checkpoint(runId, { update: 2, ref: `runs/${runId}/checkpoints/ppo-000002` });
    if (u === 4) await events.checkpoint(runId, { update: 4, ref: `runs/${runId}/checkpoints/ppo-000004` });
  }
  await events.guardrail(runId, {
    kind: 'guardrail',
    trip: 1,
    update: 3,
    condition: 'kl_blowup',
    message: 'KL 13.1 > 2 × target 6 for 2 updates',
    values: { kl: 13.1, target: 6 },
    rolledBackTo: { update: 2, ref: `runs/${runId}/checkpoints/ppo-000002` },
    remedy: { kind: 'raise_kl_coef', learningRateScale: 1, temperature: 1, klCoef: 0.4 },
  });
}

describe('run page assets (no browser)', () => {
  it('serves the pages with a strict CSP, hidden from the OpenAPI document, and only the listed assets', async () => {
    const page = await app.inject({ method: 'GET', url: '/ui/runs/run_abc' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.headers['content-security-policy']).toBe(UI_CONTENT_SECURITY_POLICY);
    expect(UI_CONTENT_SECURITY_POLICY).toContain("script-src 'self'");
    expect(UI_CONTENT_SECURITY_POLICY).not.toContain('unsafe');
    expect(page.body).toContain('<meta name="temporal-workflows" content="http');
    expect((await app.inject({ method: 'GET', url: '/ui/assets/run-page.js' })).headers['content-type']).toMatch(/^text\/javascript/);
    expect((await app.inject({ method: 'GET', url: '/ui/assets/nope.js' })).statusCode).toBe(404);
    for (const name of ['..%2Fpackage.json', '__proto__', 'run-page.html', '..%2F..%2Fapi%2Fapp.ts']) {
      const res = await app.inject({ method: 'GET', url: `/ui/assets/${name}` });
      expect([name, res.statusCode, res.json().field]).toEqual([name, 400, 'name']);
    }
    expect((await app.inject({ method: 'GET', url: '/ui/runs/..%2F..' })).statusCode).toBe(400);
    const doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json() as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths).filter((p) => p.startsWith('/ui'))).toEqual([]);
  });
});

const describeUi = uiTestSkipped() ? describe.skip : describe;

describeUi('live run page in headless Chromium', () => {
  let browser: Browser;
  const consoleErrors: string[] = [];

  beforeAll(async () => {
    assertChromiumInstalled();
    browser = await launchHeadlessChromium();
  });
  afterAll(async () => {
    await browser?.close();
  });
  beforeEach(() => {
    consoleErrors.length = 0;
  });

  async function openPage(url: string): Promise<{ page: Page; blocked: string[]; requested: string[] }> {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const blocked = await keepPageOnLoopback(page);
    const requested: string[] = [];
    page.on('request', (request) => requested.push(request.url()));
    page.on('console', (msg) => {
      if (msg.type() === 'error') consoleErrors.push(msg.text());
    });
    page.on('pageerror', (err) => consoleErrors.push(err.message));
    await page.goto(url);
    return { page, blocked, requested };
  }

  async function enterKey(page: Page, key: string): Promise<void> {
    await page.locator('#key-input').waitFor(WAIT);
    await page.fill('#key-input', key);
    await page.click('#key-form button[type=submit]');
  }

  it('draws the history, follows new updates live, reconnects, pauses, and ends with the evaluation', async () => {
    const { runId, workflowId } = await startRun(mine);
    await recordTraining(runId, RECORDED_BEFORE_OPEN);
    await spaceHistory(runId, RECORDED_BEFORE_OPEN);

    const { page, blocked, requested } = await openPage(`${baseUrl}/ui/runs/${runId}`);
    await expect(page.locator('#key-why').textContent()).resolves.toContain('kept in this tab only');
    await enterKey(page, mine.key);

    // History: one point per recorded update on every chart, the samples of the newest updates.
    const rewardChart = page.locator('figure.chart[data-metric="objective/scores"]');
    await page.locator(`figure.chart[data-metric="objective/scores"][data-points="${RECORDED_BEFORE_OPEN}"]`).waitFor(WAIT);
    expect(await page.locator('figure.chart').count()).toBe(8);
    for (const metric of [MetricKeys.klObjective, MetricKeys.klCoef, MetricKeys.entropy, MetricKeys.valueLoss, MetricKeys.clipFrac, MetricKeys.responseLength]) {
      await expect(page.locator(`figure.chart[data-metric="${metric}"]`).getAttribute('data-points')).resolves.toBe(String(RECORDED_BEFORE_OPEN));
    }
    expect(await rewardChart.locator('polyline').count()).toBe(1);
    await expect(page.locator('#step').textContent()).resolves.toBe(`${RECORDED_BEFORE_OPEN} / ${TOTAL_UPDATES}`);
    // 2 s per update measured from the history, 7 updates left.
    await expect(page.locator('#eta').textContent()).resolves.toBe('0:14');
    await expect(page.locator('#phase').textContent()).resolves.toBe('ppo');
    await expect(page.locator('#status').textContent()).resolves.toBe('running');
    await expect(page.locator('#reward-model').textContent()).resolves.toContain('passed');
    await expect(page.locator('#checkpoints li').first().textContent()).resolves.toContain('update 4');
    await expect(page.locator('#guardrails').textContent()).resolves.toContain('kl_blowup');
    await expect(page.locator('#temporal-link').getAttribute('href')).resolves.toMatch(new RegExp(`/workflows/${workflowId}$`));

    // Sampled completions are text: the hostile one shows its markup literally and runs nothing.
    await expect(page.locator('#samples tbody tr').first().getAttribute('data-update')).resolves.toBe(String(RECORDED_BEFORE_OPEN));
    await expect(page.locator('#samples tbody').textContent()).resolves.toContain(HOSTILE_RESPONSE);
    expect(await page.locator('#samples img, #samples script').count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as { __pwned?: number }).__pwned)).toBeUndefined();

    // Live: an update recorded now reaches the open page over SSE.
    await recordUpdate(runId, RECORDED_BEFORE_OPEN + 1);
    await page.locator(`figure.chart[data-metric="objective/scores"][data-points="${RECORDED_BEFORE_OPEN + 1}"]`).waitFor(WAIT);
    await expect(page.locator('#step').textContent()).resolves.toBe(`${RECORDED_BEFORE_OPEN + 1} / ${TOTAL_UPDATES}`);
    await expect(page.locator('#samples tbody tr').first().getAttribute('data-update')).resolves.toBe(String(RECORDED_BEFORE_OPEN + 1));
    await expect(page.locator('#live').getAttribute('data-state')).resolves.toBe('live');

    // A dropped stream (every connection to the API cut, as a restart or a proxy would): the page says so,
    // reconnects with Last-Event-ID after the 2 s the stream suggests, and gets the update recorded meanwhile.
    app.server.closeAllConnections();
    await page.locator('#live[data-state="reconnecting"]').waitFor(WAIT);
    await recordUpdate(runId, RECORDED_BEFORE_OPEN + 2);
    await page.locator(`figure.chart[data-metric="objective/scores"][data-points="${RECORDED_BEFORE_OPEN + 2}"]`).waitFor(WAIT);
    await page.locator('#live[data-state="live"]').waitFor(WAIT);

    // Pause from the button: the API answers 202 and Temporal has the workflow's pause signal.
    await page.click('#pause');
    await page.locator('#control-message[data-outcome="accepted"]').waitFor(WAIT);
    await expect(page.locator('#control-message').textContent()).resolves.toContain('pause: accepted');
    expect(await signalsOf(workflowId, 1)).toEqual([pauseSignal.name]);
    // Set KL from the form: a bad value is the API's 400 naming the field, a good one the setKl signal.
    await page.fill('#kl-coef', '0');
    await page.click('#kl-form button[type=submit]');
    await page.locator('#control-message[data-outcome="refused"]').waitFor(WAIT);
    await expect(page.locator('#control-message').textContent()).resolves.toMatch(/^kl: 400 .*coef/);
    await page.fill('#kl-coef', '0.35');
    await page.click('#kl-form button[type=submit]');
    await page.locator('#control-message', { hasText: 'kl: accepted' }).waitFor(WAIT);
    expect(await signalsOf(workflowId, 2)).toEqual([pauseSignal.name, setKlSignal.name]);

    await mkdir(SCREENSHOT_DIR, { recursive: true });
    await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'run-page.png'), fullPage: true });

    // The end: the evaluation block, the final status, controls off, the stream closed.
    await events.evaluation(runId, { ...EVALUATION });
    await repos().trainingRuns.setStatus(runId, 'completed');
    await page.locator('#evaluation .verdict[data-verdict="improved"]').waitFor(WAIT);
    await expect(page.locator('#evaluation').textContent()).resolves.toContain('0.99 [0.84, 1.14]');
    await page.locator('#live[data-state="ended"]').waitFor(WAIT);
    await expect(page.locator('#status').textContent()).resolves.toBe('completed');
    expect(await page.locator('#pause').isDisabled()).toBe(true);
    await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'run-page-ended.png'), fullPage: true });

    // The key never went into a URL: not the page's, and not any request's.
    expect(page.url()).toBe(`${baseUrl}/ui/runs/${runId}`);
    expect(requested.length).toBeGreaterThan(10);
    // Neither the key nor its secret part (after `rlhf_<16 hex>_`), raw or percent-encoded.
    const secret = mine.key.slice('rlhf_0123456789abcdef_'.length);
    expect(requested.filter((u) => [mine.key, secret].some((k) => u.includes(k) || u.includes(encodeURIComponent(k))))).toEqual([]);
    expect(blocked).toEqual([]);
    // Chromium logs the refused KL request (400) and the stream cut above; nothing else may reach the console.
    expect(consoleErrors.filter((e) => !/status of 400|ERR_INCOMPLETE_CHUNKED_ENCODING/.test(e))).toEqual([]);
    await page.close();
  });

  it('asks again for a refused key, shows nothing of another project\'s run, and lists only the key\'s runs', async () => {
    const own = await startRun(mine);
    const foreign = await startRun(theirs);
    await recordTraining(foreign.runId, 2);

    const { page } = await openPage(`${baseUrl}/ui/runs/${foreign.runId}`);
    await enterKey(page, 'rlhf_notakey_0000000000000000');
    await page.locator('#key-why', { hasText: 'refused' }).waitFor(WAIT);
    await enterKey(page, mine.key);
    await page.locator('#notice', { hasText: 'was not found in this key' }).waitFor(WAIT);
    expect(await page.locator('#run').isHidden()).toBe(true);
    expect(await page.locator('#samples tbody tr').count()).toBe(0);

    // Same tab: the key is in sessionStorage, so the list opens without asking.
    await page.goto(`${baseUrl}/ui/runs`);
    await page.locator(`#runs tr[data-run-id="${own.runId}"]`).waitFor(WAIT);
    expect(await page.locator(`#runs tr[data-run-id="${foreign.runId}"]`).count()).toBe(0);
    expect(await page.locator('#key-form').isHidden()).toBe(true);
    await expect(page.locator(`#runs tr[data-run-id="${own.runId}"] a`).getAttribute('href')).resolves.toBe(`/ui/runs/${own.runId}`);
    // The refused key and the foreign run log their 401 and 404 answers in the console; nothing else may.
    expect(consoleErrors.filter((e) => !/status of 40[14]/.test(e))).toEqual([]);
    await page.close();
  });
});
