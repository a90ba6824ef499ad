// The live run page (/ui/runs/:runId): loads the run (GET /api/runs/:runId) and its per-update
// history (GET /api/runs/:runId/metrics), then follows its event stream (GET /api/runs/:runId/events)
// to the end, reconnecting with Last-Event-ID. Event kinds and their data: common/run-events.ts.
import { api, ApiError, askForKey, followEvents, forgetKey, storedKey } from './api-client.js';
import { LineChart } from './charts.js';
import { duration, el, fill, num, setText } from './dom.js';

/** Charts, in page order: metric key (docs/metrics.md) and title. The KL chart also draws the KL target. */
const CHARTS = [
  ['objective/scores', 'reward (objective/scores)'],
  ['objective/kl', 'KL to reference (objective/kl)'],
  ['ppo/kl_coef', 'KL coefficient (ppo/kl_coef)'],
  ['policy/entropy', 'entropy (policy/entropy)'],
  ['loss/value', 'value loss (loss/value)'],
  ['policy/clipfrac', 'clip fraction (policy/clipfrac)'],
  ['objective/response_length', 'response length (objective/response_length)'],
  ['objective/rlhf_reward', 'RLHF reward (objective/rlhf_reward)'],
];
const FINISHED = new Set(['completed', 'failed', 'cancelled']);
/** Updates whose samples the table shows, newest first. */
const SAMPLE_UPDATES = 3;
/** Updates the client-side ETA averages over (the API's own ETA uses 8: api/update-progress.ts). */
const ETA_WINDOW = 8;
/** How often the run view (phase, paused, KL settings) is re-read while the run is active. */
const VIEW_REFRESH_MS = 10_000;
const RECONNECT_MS = 2_000;

/** The key of this tab (sessionStorage), asked for when there is none or the API refuses it. */
let currentKey = '';

const runId = decodeURIComponent(location.pathname.split('/').filter(Boolean).pop() ?? '');

const state = {
  view: null,
  status: null,
  error: null,
  phase: null,
  total: null,
  /** @type {Map<number, {update: number, total: number | null, metrics: Record<string, number>, samples: Array<{prompt: string, response: string, score: number}>, at: number}>} */
  updates: new Map(),
  checkpoints: new Map(),
  guardrails: new Map(),
  recoveries: [],
  rewardModel: null,
  evaluation: null,
  ended: false,
};

const charts = CHARTS.map(([metric, title]) => new LineChart(metric, title));

function notice(text) {
  const node = document.getElementById('notice');
  node.textContent = text;
  node.hidden = !text;
}

function setLive(which, text) {
  const node = document.getElementById('live');
  node.dataset.state = which;
  node.textContent = text;
}

// --- state from the API's answers ---------------------------------------------------------

/** The run view's fields the stream does not carry (paused, KL settings, API ETA, result). */
function applyView(view) {
  state.view = view;
  for (const g of view.progress?.guardrails?.events ?? []) state.guardrails.set(g.trip, g);
  if (view.progress?.lastCheckpoint) state.checkpoints.set(view.progress.lastCheckpoint.update, view.progress.lastCheckpoint);
  if (view.progress?.phase === 'ppo') state.total ??= view.progress.total;
  if (view.result?.evaluation) state.evaluation = view.result.evaluation;
}

/** Status and phase as of the first view; the stream keeps them current from then on. */
function applyInitialView(view) {
  applyView(view);
  state.status = view.status;
  state.error = view.error;
  state.phase = view.progress?.phase ?? null;
}

function applyUpdate(u, at) {
  state.updates.set(u.update, { update: u.update, total: u.total ?? null, metrics: u.metrics, samples: u.samples ?? [], at: Date.parse(at) });
  if (u.total) state.total = u.total;
}

function applyEvent(event) {
  const d = event.data;
  switch (event.kind) {
    case 'status':
      state.status = d.status;
      state.error = d.error;
      break;
    case 'phase':
      state.phase = d.phase;
      // A new phase (PPO: the KL target) changes the run view: read it now, not in up to 10 s. The
      // phases replayed on connecting wake it too; they arrive together, so that is one extra read.
      wakeRefresh();
      break;
    case 'reward_model':
      state.rewardModel = d;
      break;
    case 'update':
      applyUpdate(d, event.at);
      break;
    case 'checkpoint':
      state.checkpoints.set(d.update, d);
      break;
    case 'recovery':
      state.recoveries.push(d);
      break;
    case 'guardrail':
      state.guardrails.set(d.trip, d);
      break;
    case 'evaluation':
      state.evaluation = d;
      break;
    case 'end':
      state.status = d.status;
      state.error = d.error;
      state.ended = true;
      break;
    default:
      break; // a kind this page does not know yet
  }
  scheduleRender();
}

// --- rendering ----------------------------------------------------------------------------

let renderPending = false;
function scheduleRender() {
  if (renderPending) return;
  renderPending = true;
  setTimeout(() => {
    renderPending = false;
    render();
  }, 30);
}

function sortedUpdates() {
  return [...state.updates.values()].sort((a, b) => a.update - b.update);
}

/** Mean time per update over the last ETA_WINDOW updates × the updates left, or null. */
function etaMs(updates, step, total) {
  if (FINISHED.has(state.status) || !total || step >= total) return null;
  const recent = updates.slice(-(ETA_WINDOW + 1));
  if (recent.length < 2) return state.view?.progress?.etaMs ?? null;
  const perUpdate = (recent[recent.length - 1].at - recent[0].at) / (recent.length - 1);
  return perUpdate * (total - step);
}

function render() {
  const view = state.view;
  const updates = sortedUpdates();
  const latest = updates[updates.length - 1];
  const progress = view?.progress ?? null;
  const step = latest?.update ?? (progress?.phase === 'ppo' ? progress.step : 0);
  const total = state.total;

  const statusNode = document.getElementById('status');
  statusNode.textContent = progress?.paused && state.status === 'running' ? 'running (paused)' : (state.status ?? '–');
  statusNode.dataset.status = state.status ?? '';
  setText('phase', state.phase ?? '–');
  setText('agent', view?.agentId ?? '–');
  setText('step', total ? `${step} / ${total}` : String(step || '–'));
  setText('eta', duration(etaMs(updates, step, total)));
  const klCoef = latest?.metrics['ppo/kl_coef'] ?? progress?.klCoef ?? null;
  const klTarget = progress?.klTarget ?? null;
  setText('kl-settings', `${num(klCoef)} / ${num(klTarget)}`);
  setText('error', state.error ? `error: ${state.error}` : '');
  const bar = /** @type {HTMLProgressElement} */ (document.getElementById('progress-bar'));
  bar.value = total ? Math.min(step / total, 1) : 0;

  for (const chart of charts) {
    const points = updates.map((u) => [u.update, u.metrics[chart.metric]]);
    chart.draw(points, chart.metric === 'objective/kl' ? klTarget : null);
  }

  renderSamples(updates);
  renderRewardModel();
  renderCheckpoints();
  renderGuardrails();
  renderEvaluation();

  const active = !FINISHED.has(state.status);
  for (const id of ['pause', 'resume', 'cancel']) /** @type {HTMLButtonElement} */ (document.getElementById(id)).disabled = !active;
  /** @type {HTMLButtonElement} */ (document.querySelector('#kl-form button')).disabled = !active;
}

function renderSamples(updates) {
  const rows = [];
  for (const u of updates.slice(-SAMPLE_UPDATES).reverse()) {
    for (const s of u.samples) {
      rows.push(
        el('tr', { 'data-update': u.update }, [
          el('td', { class: 'num' }, [String(u.update)]),
          el('td', { class: 'num' }, [num(s.score)]),
          el('td', { class: 'text' }, [s.prompt]),
          el('td', { class: 'text' }, [s.response]),
        ]),
      );
    }
  }
  if (rows.length === 0) rows.push(el('tr', {}, [el('td', { colspan: 4, class: 'muted' }, ['no samples yet'])]));
  fill(document.querySelector('#samples tbody'), rows);
}

function renderRewardModel() {
  const rm = state.rewardModel ?? state.view?.progress?.rewardModel ?? null;
  if (!rm) return;
  const gate = rm.minValPearson === undefined ? null : `${rm.passed ? 'passed' : 'failed'} (needs Pearson ≥ ${num(rm.minValPearson)})`;
  fill(document.getElementById('reward-model'), [
    el('dl', { class: 'pairs' }, [
      el('dt', {}, ['validation Pearson']), el('dd', {}, [num(rm.valPearson)]),
      el('dt', {}, ['Spearman']), el('dd', {}, [num(rm.valSpearman)]),
      el('dt', {}, ['MSE / MAE']), el('dd', {}, [`${num(rm.valMse)} / ${num(rm.valMae)}`]),
      gate && el('dt', {}, ['gate']), gate && el('dd', { 'data-passed': String(rm.passed) }, [gate]),
    ]),
  ]);
}

function renderCheckpoints() {
  const items = [...state.checkpoints.values()].sort((a, b) => b.update - a.update).slice(0, 8);
  const lines = items.map((c) => el('li', {}, [`update ${c.update}: `, el('code', {}, [c.ref])]));
  for (const r of state.recoveries) lines.push(el('li', { class: 'warn' }, [`checkpoint of update ${r.rejectedUpdate} refused on resume; resumed from ${r.resumedFromUpdate}`]));
  if (lines.length) fill(document.getElementById('checkpoints'), lines);
}

function renderGuardrails() {
  const trips = [...state.guardrails.values()].sort((a, b) => a.trip - b.trip);
  if (!trips.length) return;
  fill(document.getElementById('guardrails'), [
    el('table', { class: 'guardrails' }, [
      el('thead', {}, [el('tr', {}, ['trip', 'update', 'condition', 'message', 'rolled back to', 'remedy'].map((h) => el('th', {}, [h])))]),
      el(
        'tbody',
        {},
        trips.map((g) =>
          el('tr', {}, [
            el('td', { class: 'num' }, [String(g.trip)]),
            el('td', { class: 'num' }, [String(g.update)]),
            el('td', {}, [g.condition]),
            el('td', { class: 'text' }, [g.message]),
            el('td', {}, [`update ${g.rolledBackTo.update}`]),
            el('td', {}, [`${g.remedy.kind} (lr × ${num(g.remedy.learningRateScale)}, temperature ${num(g.remedy.temperature)}, KL coef ${num(g.remedy.klCoef)})`]),
          ]),
        ),
      ),
    ]),
  ]);
}

const interval = (i) => (i ? `${num(i.mean)} [${num(i.lo)}, ${num(i.hi)}]` : '–');

function renderEvaluation() {
  const ev = state.evaluation;
  if (!ev || !ev.start || !ev.final) return;
  const rows = [
    ['reward model score', interval(ev.start.rewardMean), interval(ev.final.rewardMean)],
    ['KL to reference (nats)', interval(ev.start.klToReference), interval(ev.final.klToReference)],
    ['response length (tokens)', interval(ev.start.responseLength), interval(ev.final.responseLength)],
    ['empty replies', num(ev.start.emptyFraction), num(ev.final.emptyFraction)],
    ['distinct-1 / distinct-2', `${num(ev.start.distinct1)} / ${num(ev.start.distinct2)}`, `${num(ev.final.distinct1)} / ${num(ev.final.distinct2)}`],
  ];
  const pairs = (ev.pairs ?? []).slice(0, 3).map((p) =>
    el('tr', {}, [el('td', { class: 'text' }, [p.prompt]), el('td', { class: 'text' }, [`${p.start} (${num(p.startReward)})`]), el('td', { class: 'text' }, [`${p.final} (${num(p.finalReward)})`])]),
  );
  fill(document.getElementById('evaluation'), [
    el('p', {}, [`start vs final policy on ${ev.prompts} held-out prompts × ${ev.samplesPerPrompt} samples, 95 % bootstrap intervals`]),
    el('table', { class: 'evaluation' }, [
      el('thead', {}, [el('tr', {}, [el('th', {}, ['metric']), el('th', {}, ['before (start)']), el('th', {}, ['after (final)'])])]),
      el('tbody', {}, rows.map(([k, a, b]) => el('tr', {}, [el('td', {}, [k]), el('td', { class: 'num' }, [a]), el('td', { class: 'num' }, [b])]))),
    ]),
    el('p', {}, [`RM gain ${interval(ev.rewardGain)}, win rate final over start ${interval(ev.winRate)}`]),
    el('p', { class: 'verdict', 'data-verdict': ev.verdict }, [`verdict: ${ev.verdict}${ev.reason ? ` (${ev.reason})` : ''}`]),
    pairs.length ? el('table', { class: 'pairs-table' }, [el('thead', {}, [el('tr', {}, [el('th', {}, ['prompt']), el('th', {}, ['before']), el('th', {}, ['after'])])]), el('tbody', {}, pairs)]) : null,
  ]);
}

function renderTemporalLink() {
  const base = document.querySelector('meta[name="temporal-workflows"]')?.getAttribute('content') ?? '';
  const link = /** @type {HTMLAnchorElement} */ (document.getElementById('temporal-link'));
  try {
    const url = new URL(base + encodeURIComponent(state.view.workflowId));
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return;
    link.href = url.toString();
    link.hidden = false;
  } catch {
    // no valid Temporal UI address configured: no link
  }
}

// --- controls -----------------------------------------------------------------------------

const CONTROL_NOTES = {
  pause: 'the run pauses at the next chunk boundary',
  resume: 'the run continues',
  cancel: 'the run is being cancelled',
  kl: 'the next PPO chunk uses the new KL settings',
};

async function control(action, body) {
  const message = document.getElementById('control-message');
  message.textContent = `${action}…`;
  message.dataset.outcome = 'pending';
  try {
    const answer = await api(currentKey, `/api/runs/${encodeURIComponent(runId)}/${action}`, { method: 'POST', body: body ?? {} });
    message.textContent = `${action}: ${answer.status} (${CONTROL_NOTES[action]})`;
    message.dataset.outcome = 'accepted';
  } catch (err) {
    message.textContent = `${action}: ${err instanceof ApiError ? `${err.status} ${err.message}` : String(err)}`;
    message.dataset.outcome = 'refused';
  }
}

function wireControls() {
  for (const id of ['pause', 'resume', 'cancel']) {
    document.getElementById(id).addEventListener('click', () => {
      if (id === 'cancel' && !confirm('Cancel this run? It cannot be resumed.')) return;
      void control(id);
    });
  }
  document.getElementById('kl-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const body = {};
    const coef = /** @type {HTMLInputElement} */ (document.getElementById('kl-coef')).value;
    const target = /** @type {HTMLInputElement} */ (document.getElementById('kl-target')).value;
    if (coef !== '') body.coef = Number(coef);
    if (target !== '') body.target = Number(target);
    void control('kl', body);
  });
}

// --- loading and following ----------------------------------------------------------------

async function loadHistory() {
  let from = 1;
  for (;;) {
    const page = await api(currentKey, `/api/runs/${encodeURIComponent(runId)}/metrics?from=${from}&limit=1000`);
    for (const item of page.items) applyUpdate({ ...item, total: state.total }, item.createdAt);
    if (page.nextFrom === null) return;
    from = page.nextFrom;
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function follow() {
  let lastId = 0;
  while (!state.ended) {
    setLive('live', 'live');
    try {
      const read = await followEvents(currentKey, runId, lastId, applyEvent);
      lastId = read.lastId;
      if (read.ended) break;
    } catch (err) {
      if (err instanceof ApiError && (err.status === 401 || err.status === 404)) throw err;
    }
    setLive('reconnecting', 'reconnecting');
    await sleep(RECONNECT_MS);
  }
  setLive('ended', 'run ended');
  // The final view carries the result (with the evaluation when the stream had none).
  applyView(await api(currentKey, `/api/runs/${encodeURIComponent(runId)}`));
  scheduleRender();
}

/** Wakes refreshView early: a phase or status change is when the view's progress changes most. */
let wakeRefresh = () => undefined;

async function refreshView() {
  while (!state.ended) {
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, VIEW_REFRESH_MS);
      wakeRefresh = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    if (state.ended) return;
    try {
      applyView(await api(currentKey, `/api/runs/${encodeURIComponent(runId)}`));
      scheduleRender();
    } catch {
      // the next refresh tries again; the stream is what keeps the page current
    }
  }
}

async function open() {
  applyInitialView(await api(currentKey, `/api/runs/${encodeURIComponent(runId)}`));
  await loadHistory();
  document.getElementById('run').hidden = false;
  renderTemporalLink();
  render();
  void refreshView();
  await follow();
}

async function main() {
  setText('run-id', runId);
  document.title = `${runId} · durable-rlhf`;
  fill(document.getElementById('charts'), charts.map((c) => c.figure));
  wireControls();
  currentKey = storedKey() ?? (await askForKey('Enter an API key of the run’s project. It is kept in this tab only, never in a URL.'));
  for (;;) {
    try {
      await open();
      return;
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        forgetKey();
        currentKey = await askForKey('The API refused that key. Enter a valid key of the run’s project.');
        continue;
      }
      setLive('ended', 'not live');
      if (err instanceof ApiError && err.status === 404) notice(`Run ${runId} was not found in this key’s project.`);
      else notice(`Could not load the run: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
  }
}

void main();
