/**
 * The main job, end to end, as a user would run it on a fresh machine:
 *
 *   npm run demo [-- --agent demo-agent --feedback rows.jsonl --preset quick --max-steps 20]
 *
 * 1. Starts Postgres and the Temporal dev server unless DATABASE_URL / TEMPORAL_ADDRESS point at running ones.
 * 2. Creates an API key of the 'demo' project, then starts the API and one CPU-queue and one GPU-queue worker
 *    as child processes.
 * 3. Posts the agent's feedback through the REST API (a synthetic set whose true score is known, or a JSONL file
 *    of {prompt, response, score} rows), then starts training through the REST API.
 * 4. Shows live progress (phase, step/total, reward, KL, ETA) from `GET /api/runs/:runId` until the run ends.
 * 5. Prints the new PolicyVersion, its artifact paths, a sample generation and the run's Temporal UI link.
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
import { createHash } from 'node:crypto';
import { makeSyntheticFeedback, trueScore } from '../ml/synthetic-task';
import { Rng } from '../ml/rng';
import { PRESET_NAMES } from '../ml/config';

const ROOT = path.resolve(__dirname, '..');

function parseCli() {
  const { values } = parseArgs({
    options: {
      agent: { type: 'string', default: 'demo-agent' },
      feedback: { type: 'string' },
      rows: { type: 'string', default: '400' },
      preset: { type: 'string', default: 'quick' },
      'max-steps': { type: 'string' },
      seed: { type: 'string', default: '7' },
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
  };
}

/** The demo's feedback: the given JSONL file, checked line by line as `rlhf feedback import` does, or a synthetic set. */
async function loadFeedback(client: RlhfApiClient, file: string | undefined, n: number, seed: number): Promise<{ rows: FeedbackItem[]; sha256: string }> {
  if (file) return readFeedbackFile(file, { scoreRange: await client.feedbackScoreRange(), defaultRunId: 'demo' });
  const rows = makeSyntheticFeedback(n, new Rng(seed), { noiseStd: 0.1 }).map((r) => ({ ...r, runId: 'demo' }));
  return { rows, sha256: createHash('sha256').update(JSON.stringify(rows)).digest('hex') };
}

function startChild(name: string, script: string, env: NodeJS.ProcessEnv, logs: string[]): ChildProcess {
  const child = spawn(process.execPath, [path.join(ROOT, 'node_modules/tsx/dist/cli.mjs'), path.join(ROOT, script)], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const keep = (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) if (line.trim()) logs.push(`[${name}] ${line}`);
    if (logs.length > 400) logs.splice(0, logs.length - 400);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  child.on('exit', (code, signal) => {
    if (code !== 0 && signal === null) logs.push(`[${name}] exited with code ${code}`);
  });
  return child;
}

async function waitForApi(base: string, children: ChildProcess[], logs: string[]): Promise<void> {
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
  throw new Error(`the API did not become healthy; last log lines:\n${logs.slice(-30).join('\n')}`);
}

async function main(): Promise<void> {
  const cli = parseCli();
  const logs: string[] = [];
  console.log('durable-rlhf demo: feedback → reward model → PPO → new policy version\n');
  const services: Services = await startServices(ROOT);
  const env: NodeJS.ProcessEnv = { ...process.env, ...services.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' };
  const base = `http://${env.API_HOST}:${env.API_PORT}`;
  const api = new RlhfApiClient({ baseUrl: base, apiKey: services.apiKey.key });
  const children = [
    startChild('api', 'api/server.ts', env, logs),
    startChild('worker-cpu', 'worker/cpu.ts', env, logs),
    startChild('worker-gpu', 'worker/gpu.ts', env, logs),
  ];
  const stopChildren = () => children.forEach((c) => c.exitCode === null && c.kill('SIGTERM'));
  process.on('SIGINT', () => {
    stopChildren();
    process.exit(130);
  });
  try {
    await waitForApi(base, children, logs);
    console.log(`API      ${base}  (OpenAPI docs at ${base}/docs)`);
    console.log(`Temporal ${env.TEMPORAL_ADDRESS}  (Web UI ${env.TEMPORAL_UI_URL})`);
    console.log(`project  '${DEMO_PROJECT}' (a key made for this demo run, revoked at its end; make your own with scripts/create-api-key.ts)\n`);

    const feedback = await loadFeedback(api, cli.feedbackFile, cli.syntheticRows, cli.seed);
    const rows = feedback.rows;
    for (const [index, items] of batchesOf(rows, 500).entries()) {
      await api.feedbackBatch(cli.agentId, items, batchIdempotencyKey(feedback, cli.agentId, 500, index));
    }
    console.log(`posted ${rows.length} feedback rows for agent '${cli.agentId}'` + (cli.feedbackFile ? '' : ' (synthetic vowel-density task)'));

    const preset = cli.preset as (typeof PRESET_NAMES)[number];
    const dry = await api.train(cli.agentId, { dryRun: true, preset, ...(cli.maxSteps ? { maxSteps: cli.maxSteps } : {}) });
    if (dry.kind === 'dry_run') console.log(`dry run: ${JSON.stringify({ estimatedSteps: dry.answer.estimatedSteps, estimatedTimeMinutes: dry.answer.estimatedTimeMinutes })}`);

    const start = await api.train(cli.agentId, { preset, seed: cli.seed, ...(cli.maxSteps ? { maxSteps: cli.maxSteps } : {}) });
    if (start.kind !== 'started') throw new Error('train_policy answered a dry run to a run request');
    const { runId, workflowId } = start.answer;
    const uiLink = `${env.TEMPORAL_UI_URL}/namespaces/${env.TEMPORAL_NAMESPACE ?? 'default'}/workflows/${workflowId}`;
    console.log(`training run ${runId} started (workflow ${workflowId})\n`);

    const final = await followRun(liveRunViews(api, runId, { intervalMs: process.stdout.isTTY ? 500 : 3000 }), process.stdout);
    if (final.status !== 'completed') {
      throw new Error(`run ended ${final.status}: ${final.error ?? 'no error recorded'}\nTemporal UI: ${uiLink}`);
    }
    await printOutcome(api, cli.agentId, final, uiLink);
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

async function printOutcome(api: RlhfApiClient, agentId: string, run: RunViewBody, uiLink: string): Promise<void> {
  const result: Partial<NonNullable<RunViewBody['result']>> = run.result ?? {};
  const newest: Partial<(Awaited<ReturnType<RlhfApiClient['listPolicies']>>)['policies'][number]> = (await api.listPolicies(agentId)).policies[0] ?? {};
  console.log('\nnew policy version');
  console.log(`  version          ${String(result.version ?? newest.version)}`);
  console.log(`  policy           ${String(result.modelPath ?? newest.modelPath)}`);
  console.log(`  reward model     ${String(result.rewardModelPath ?? newest.rewardModelPath)}`);
  console.log(`  feedback rows    ${String(result.feedbackCount)}`);
  console.log(`  PPO updates      ${String(result.trainingSteps)}`);
  console.log(`  reward mean/std  ${Number(result.rewardMean).toFixed(3)} / ${Number(result.rewardStd).toFixed(3)}`);
  const sample = await sampleGeneration(String(result.modelPath ?? newest.modelPath));
  if (sample) console.log(`  sample           ${sample}`);
  console.log(`  Temporal UI      ${uiLink}`);
}

/** Loads the exported policy and generates for one prompt, showing that the artifact is usable. */
async function sampleGeneration(modelPath: string): Promise<string | null> {
  try {
    const { initBackend } = await import('../ml/backend');
    const { loadPolicy, generateText } = await import('../ml/policy-export');
    await initBackend({ log: () => undefined });
    const loaded = await loadPolicy(path.resolve(ROOT, modelPath));
    const prompt = 'Q7: ';
    const text = generateText(loaded.policy, loaded.tokenizer, prompt, { maxNewTokens: 16, temperature: 0.7, topK: 0, topP: 1 }, new Rng(1));
    loaded.policy.dispose();
    return `${JSON.stringify(prompt)} → ${JSON.stringify(text)} (true score ${trueScore(prompt, text).toFixed(2)})`;
  } catch (err) {
    return `(could not load the exported policy: ${err instanceof Error ? err.message : String(err)})`;
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
