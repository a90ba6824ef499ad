/**
 * The main job, end to end, as a user would run it on a fresh machine:
 *
 *   npm run demo [-- --agent demo-agent --feedback rows.jsonl --preset quick --max-steps 20 --base-model gpt2]
 *
 * 1. Starts Postgres and the Temporal dev server unless DATABASE_URL / TEMPORAL_ADDRESS point at running ones.
 * 2. Creates an API key of the 'demo' project, then starts the API and one CPU-queue and one GPU-queue worker
 *    as child processes.
 * 3. Posts the agent's feedback through the REST API (a synthetic set whose true score is known, or a JSONL file
 *    of {prompt, response, score} rows), then starts training through the REST API.
 * 4. Shows live progress (phase, step/total, reward, KL, ETA) from `GET /api/runs/:runId` until the run ends.
 * 5. Prints the new PolicyVersion, its artifact paths, the evaluation phase's before/after table (reward model,
 *    win rate, KL, length, diversity, verdict, 3 sample pairs), the true score before/after on held-out prompts
 *    (synthetic feedback only) and the run's Temporal UI link.
 * 6. Closes the loop through the serving process (scripts/demo-serving.ts): deploys the version (50/50 with the
 *    one before it, when there is one), sends users' prompts through `generate`, posts their true scores as
 *    feedback attributed by requestId, and prints the A/B report.
 * The synthetic feedback is the support-reply task (ml/tasks/support-replies.ts); `--task vowel` uses the old
 * vowel-density task.
 * The API and workers stop at the end; Postgres and Temporal keep running so the UI link works
 * (stop them with `npm run services:stop`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DEMO_PROJECT, revokeDemoApiKey, startServices, type Services } from './demo-services';
import { RlhfApiClient, type FeedbackItem, type RunViewBody } from '../cli/api-client';
import { batchesOf, batchIdempotencyKey, readFeedbackFile } from '../cli/feedback-file';
import { followRun, liveRunViews } from '../cli/watch';
import { renderEvaluation } from '../cli/evaluation-table';
import { createHash } from 'node:crypto';
import { makeSyntheticFeedback, trueScore as vowelTrueScore } from '../ml/synthetic-task';
import { makeSupportFeedback, supportPrompt, trueScore as supportTrueScore } from '../ml/tasks/support-replies';
import type { EvaluationReport } from '../ml/evaluation';
import { Rng } from '../ml/rng';
import { PRESET_NAMES } from '../spec/run-config';
import { runArtifacts } from '../storage/artifact-keys';
import { ServeClient } from '../cli/serve-client';
import { closeTheLoop } from './demo-serving';

const ROOT = path.resolve(__dirname, '..');

function parseCli() {
  const { values } = parseArgs({
    options: {
      agent: { type: 'string', default: 'demo-agent' },
      feedback: { type: 'string' },
      // A team's first thousand ratings: the reward model's agreement with the truth is data-limited below that.
      rows: { type: 'string', default: '1000' },
      preset: { type: 'string', default: 'quick' },
      'max-steps': { type: 'string' },
      seed: { type: 'string', default: '7' },
      // A Hugging Face Hub id (gpt2, distilgpt2, org/name): the run starts from it (hub/hf-hub downloads it).
      'base-model': { type: 'string' },
      task: { type: 'string', default: 'support' },
    },
  });
  if (!PRESET_NAMES.includes(values.preset as (typeof PRESET_NAMES)[number])) {
    throw new Error(`--preset must be one of ${PRESET_NAMES.join(', ')}`);
  }
  return {
    agentId: values.agent,
    feedbackFile: values.feedback,
    syntheticRows: Number(values.rows),
    preset: values.preset,
    maxSteps: values['max-steps'] === undefined ? undefined : Number(values['max-steps']),
    seed: Number(values.seed),
    baseModel: values['base-model'],
    task: values.task === 'vowel' ? ('vowel' as const) : ('support' as const),
  };
}

/** The synthetic task's true scorer and held-out prompts (ids the feedback never used). */
function taskOf(task: 'support' | 'vowel') {
  if (task === 'vowel') {
    return {
      trueScore: vowelTrueScore,
      heldOut: Array.from({ length: 16 }, (_, i) => `Q${i * 6}: `),
      served: Array.from({ length: 64 }, (_, i) => `Q${i * 6 + 1}: `),
      name: 'synthetic vowel-density task',
    };
  }
  const rng = new Rng(99);
  const served = new Rng(123);
  return {
    trueScore: supportTrueScore,
    heldOut: Array.from({ length: 16 }, (_, i) => supportPrompt(DEMO_TRAIN_IDS + i, rng)),
    // What end users ask through serve/: the training prompts' kinds, freshly worded. Never the held-out
    // prompts, whose rated answers would otherwise enter the next run's feedback.
    served: Array.from({ length: 64 }, (_, i) => supportPrompt(i % DEMO_TRAIN_IDS, served)),
    name: 'synthetic support-reply task',
  };
}

/** Support prompts #0..#79 go into the feedback; #80.. are held out for the true-score check. */
const DEMO_TRAIN_IDS = 80;

/** The demo's feedback: the given JSONL file, checked line by line as `rlhf feedback import` does, or a synthetic set. */
async function loadFeedback(client: RlhfApiClient, file: string | undefined, n: number, seed: number, task: 'support' | 'vowel'): Promise<{ rows: FeedbackItem[]; sha256: string }> {
  if (file) return readFeedbackFile(file, { scoreRange: await client.feedbackScoreRange(), defaultRunId: 'demo' });
  const synthetic = task === 'vowel' ? makeSyntheticFeedback(n, new Rng(seed), { noiseStd: 0.1 }) : makeSupportFeedback(n, new Rng(seed), { promptIds: DEMO_TRAIN_IDS });
  const rows = synthetic.map((r) => ({ prompt: r.prompt, response: r.response, score: r.score, runId: 'demo' }));
  return { rows, sha256: createHash('sha256').update(JSON.stringify(rows)).digest('hex') };
}

function startChild(name: string, script: string, env: NodeJS.ProcessEnv, logs: string[]): ChildProcess {
  const child = spawn(process.execPath, [path.join(ROOT, 'node_modules/tsx/dist/cli.mjs'), path.join(ROOT, script)], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const keep = (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) {
      if (!line.trim()) continue;
      logs.push(`[${name}] ${line}`);
      // The one worker line a user should see: which TensorFlow backend trains (native or the WASM fallback).
      const backendLine = backendLineOf(line);
      if (backendLine) console.log(`[${name}] ${backendLine}`);
    }
    if (logs.length > 400) logs.splice(0, logs.length - 400);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  child.on('exit', (code, signal) => {
    if (code !== 0 && signal === null) logs.push(`[${name}] exited with code ${code}`);
  });
  return child;
}

/** The worker's "tfjs backend" message, from its pino JSON line (or a plain line). */
function backendLineOf(line: string): string | null {
  if (!line.includes('tfjs backend')) return null;
  try {
    const msg = (JSON.parse(line) as { msg?: unknown }).msg;
    return typeof msg === 'string' ? msg : line;
  } catch {
    return line;
  }
}

async function waitForHealthy(what: string, base: string, children: ChildProcess[], logs: string[]): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    if (children.some((c) => c.exitCode !== null)) break;
    try {
      const res = await fetch(`${base}/healthz`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`the ${what} did not become healthy; last log lines:\n${logs.slice(-30).join('\n')}`);
}

async function main(): Promise<void> {
  const cli = parseCli();
  const logs: string[] = [];
  console.log('durable-rlhf demo: feedback → reward model → PPO → new policy version\n');
  const services: Services = await startServices(ROOT);
  const env: NodeJS.ProcessEnv = { ...process.env, ...services.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' };
  const apiBase = `http://${env.API_HOST}:${env.API_PORT}`;
  const api = new RlhfApiClient({ baseUrl: apiBase, apiKey: services.apiKey.key });
  const children = [
    startChild('api', 'api/server.ts', env, logs),
    startChild('serve', 'serve/server.ts', env, logs),
    startChild('worker-cpu', 'worker/cpu.ts', env, logs),
    // At info, so that its backend line (echoed above) is logged.
    startChild('worker-gpu', 'worker/gpu.ts', { ...env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'info' }, logs),
  ];
  const stopChildren = () => children.forEach((c) => c.exitCode === null && c.kill('SIGTERM'));
  process.on('SIGINT', () => {
    stopChildren();
    process.exit(130);
  });
  try {
    await waitForHealthy('API', apiBase, children, logs);
    console.log(`API      ${apiBase}  (OpenAPI docs at ${apiBase}/docs)`);
    console.log(`Temporal ${env.TEMPORAL_ADDRESS}  (Web UI ${env.TEMPORAL_UI_URL})`);
    console.log(`project  '${DEMO_PROJECT}' (a key made for this demo run, revoked at its end; make your own with scripts/create-api-key.ts)\n`);

    const feedback = await loadFeedback(api, cli.feedbackFile, cli.syntheticRows, cli.seed, cli.task);
    const rows = feedback.rows;
    for (const [index, items] of batchesOf(rows, 500).entries()) {
      await api.feedbackBatch(cli.agentId, items, batchIdempotencyKey(feedback, cli.agentId, 500, index));
    }
    console.log(`posted ${rows.length} feedback rows for agent '${cli.agentId}'` + (cli.feedbackFile ? '' : ` (${taskOf(cli.task).name})`));

    const preset = cli.preset as (typeof PRESET_NAMES)[number];
    const base = { preset, ...(cli.maxSteps ? { maxSteps: cli.maxSteps } : {}), ...(cli.baseModel ? { baseModel: cli.baseModel } : {}) };
    const dry = await api.train(cli.agentId, { ...base, dryRun: true });
    if (dry.kind === 'dry_run') console.log(`dry run: ${JSON.stringify({ estimatedSteps: dry.answer.estimatedSteps, estimatedTimeMinutes: dry.answer.estimatedTimeMinutes, tokenizer: dry.answer.modelConfig.tokenizer, lengths: dry.answer.lengths })}`);

    const start = await api.train(cli.agentId, { ...base, seed: cli.seed });
    if (start.kind !== 'started') throw new Error('train_policy answered a dry run to a run request');
    const { runId, workflowId } = start.answer;
    const uiLink = `${env.TEMPORAL_UI_URL}/namespaces/${env.TEMPORAL_NAMESPACE ?? 'default'}/workflows/${workflowId}`;
    console.log(`training run ${runId} started (workflow ${workflowId})\n`);

    const final = await followRun(liveRunViews(api, runId, { intervalMs: process.stdout.isTTY ? 500 : 3000 }), process.stdout);
    if (final.status !== 'completed') {
      throw new Error(`run ended ${final.status}: ${final.error ?? 'no error recorded'}\nTemporal UI: ${uiLink}`);
    }
    await printOutcome(api, cli.agentId, final, uiLink, cli.feedbackFile ? null : cli.task, services.env.ARTIFACT_ROOT);
    const serveBase = `http://${env.SERVE_HOST}:${env.SERVE_PORT}`;
    await waitForHealthy('serving process', serveBase, children, logs);
    console.log(`\nserving  ${serveBase}  (npm run serve; POST /v1/agents/${cli.agentId}/generate)`);
    const task = cli.feedbackFile ? null : taskOf(cli.task);
    await closeTheLoop(api, new ServeClient({ baseUrl: serveBase, apiKey: services.apiKey.key }), cli.agentId, task, runId, rows[0].prompt);
  } catch (err) {
    console.error(`\n${err instanceof Error ? err.message : String(err)}`);
    console.error(`\nlast log lines:\n${logs.slice(-25).join('\n')}`);
    process.exitCode = 1;
  } finally {
    stopChildren();
    await revokeDemoApiKey(services.env.DATABASE_URL, services.apiKey).catch((err: unknown) => console.error(`could not revoke the demo key: ${String(err)}`));
    console.log(`\nTemporal and Postgres are still running (Web UI stays up). Stop them with: npm run services:stop`);
  }
}

async function printOutcome(api: RlhfApiClient, agentId: string, run: RunViewBody, uiLink: string, task: 'support' | 'vowel' | null, artifactRoot: string): Promise<void> {
  const result: Partial<NonNullable<RunViewBody['result']>> = run.result ?? {};
  const newest: Partial<(Awaited<ReturnType<RlhfApiClient['listPolicies']>>)['policies'][number]> = (await api.listPolicies(agentId)).policies[0] ?? {};
  // The API answers store keys; the demo runs beside the store, so it shows where they are on disk.
  const inStore = (key: unknown) => path.join(artifactRoot, String(key));
  console.log('\nnew policy version');
  console.log(`  version          ${String(result.version ?? newest.version)}`);
  console.log(`  policy           ${inStore(result.modelKey ?? newest.modelKey)}`);
  console.log(`  reward model     ${inStore(result.rewardModelKey ?? newest.rewardModelKey)}`);
  console.log(`  feedback rows    ${String(result.feedbackCount)}`);
  console.log(`  PPO updates      ${String(result.trainingSteps)}`);
  console.log(`  reward mean/std  ${Number(result.rewardMean).toFixed(3)} / ${Number(result.rewardStd).toFixed(3)}`);
  printEvaluation(result.evaluation as EvaluationReport | undefined);
  if (task) await printTrueScores(inStore(result.modelKey ?? newest.modelKey), inStore(result.rewardModelKey ?? newest.rewardModelKey), path.join(artifactRoot, runArtifacts.sftPolicy(run.runId)), task);
  console.log(`  Temporal UI      ${uiLink}`);
}
const f3 = (x: number) => x.toFixed(3);

/** The evaluation phase's before/after table (GET /api/runs/:id `result.evaluation`), with 3 sample pairs. */
function printEvaluation(ev: EvaluationReport | undefined): void {
  console.log(ev ? `\n${renderEvaluation(ev)}` : '\n(no evaluation phase in this run)');
}

/**
 * The synthetic task's TRUE score before (the run's SFT policy, `runs/{runId}/sft/` in the
 * workers' artifact store) and after (the published policy), on held-out prompts, each sampled
 * with the same seed: what the reward model cannot tell us. The published policy has its LoRA
 * merged, so switching its adapters off does not give the start policy back.
 */
async function printTrueScores(modelDir: string, rewardModelDir: string, sftPath: string, task: 'support' | 'vowel'): Promise<void> {
  try {
    const { initBackend } = await import('../ml/backend');
    const { loadPolicy } = await import('../ml/policy-export');
    const { loadRewardModel } = await import('../ml/reward-model');
    const { evaluatePolicies } = await import('../ml/evaluation');
    await initBackend({ log: () => undefined });
    const rm = await loadRewardModel(rewardModelDir);
    const t = taskOf(task);
    const samplesOf = async (dir: string): Promise<{ prompts: string[]; texts: string[] }> => {
      const loaded = await loadPolicy(dir);
      try {
        // Adapters are merged into a saved policy: its "final" samples are the policy itself.
        const { samples } = await evaluatePolicies({
          policy: loaded.policy,
          reward: rm.model,
          tokenizer: loaded.tokenizer,
          prompts: t.heldOut,
          generation: loaded.config.ppo.generation,
          blockSize: loaded.policy.config.blockSize,
          samplesPerPrompt: 8,
          maxPrompts: t.heldOut.length,
          seed: 1,
        });
        return { prompts: samples.prompts, texts: samples.final };
      } finally {
        loaded.policy.dispose();
      }
    };
    try {
      const before = await samplesOf(sftPath);
      const after = await samplesOf(modelDir);
      const mean = (s: { prompts: string[]; texts: string[] }) => s.texts.reduce((a, x, i) => a + t.trueScore(s.prompts[i], x), 0) / s.texts.length;
      console.log(`  true score (${t.name}, ${after.texts.length} samples on unseen prompts): before ${f3(mean(before))} → after ${f3(mean(after))}`);
    } finally {
      rm.model.dispose();
    }
  } catch (err) {
    console.log(`  (could not measure the true score: ${err instanceof Error ? err.message : String(err)})`);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
