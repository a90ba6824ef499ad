/**
 * Benchmark: the serving process (serve/, issue 13) under load, loopback only. The real serving
 * app (buildServeApp: API-key auth, rate limiter with an unreachable limit, version choice,
 * policy cache, batcher, one generation_request insert per answer) listens on 127.0.0.1;
 * autocannon runs as a separate process and sends `POST /v1/agents/:agentId/generate`
 * {prompt, maxNewTokens: 32} at 1, 8 and 32 concurrent clients. Models have random weights of
 * the named shapes (speed does not depend on the values; EOS is rare, so completions run to 32).
 *  - the demo's model shape (quick preset: 2 layers × 4 heads × 48, vocabulary 512, block 128),
 *    batched (SERVE_MAX_BATCH_ROWS 32) against the same app unbatched (1): the ratio is batching's gain;
 *  - a GPT-2-small-shaped model (12 × 12 × 768, vocabulary 50,257, block 1024), batched;
 *  - RSS with 1, 2 and 3 GPT-2-small-shaped versions loaded;
 *  - memory over 10,000 requests of the demo model (8 clients, 8 tokens): RSS and live tensors.
 *   npx tsx bench/serve.ts [--runs 3] [--requests 200] [--gpt2-requests 16] [--soak 10000] [--skip-gpt2]
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import type { FastifyInstance } from 'fastify';
import { loadEnv } from '../common/env';
import { AgentRepository, PolicyVersionRepository } from '../db/repositories';
import { ProjectRepository } from '../db/repositories/project-repository';
import { initBackend } from '../ml/backend';
import { resolveRunConfig, type ModelConfig, type RunConfig } from '../spec/run-config';
import { GptModel } from '../ml/model';
import { savePolicy } from '../ml/policy-export';
import { Rng } from '../ml/rng';
import { tf } from '../ml/tf';
import { ByteTokenizer } from '../ml/tokenizer';
import { buildServeApp } from '../serve/app';
import { policyKey } from '../storage/artifact-keys';
import { autocannon, type AutocannonResult } from './lib/autocannon';
import { loadSnapshot, machineLine, mdTable, writeSection } from './lib/results';
import { benchServices, createBenchDatabase, type BenchDatabase } from './lib/services';
import { summarize, type Summary } from './lib/stats';
import { uniqueId } from './lib/training-run';

const RUN_LIMIT_MS = 600_000;
const NEW_TOKENS = 32;
const PROMPT = 'Hi, I was charged twice for my order this month. Can you help?';

const DEMO_SHAPE: ModelConfig = { vocabSize: 512, blockSize: 128, nLayer: 2, nHead: 4, nEmbd: 48, dropout: 0, lora: { rank: 0, alpha: 0, dropout: 0 } };
const GPT2_SMALL_SHAPE: ModelConfig = { vocabSize: 50257, blockSize: 1024, nLayer: 12, nHead: 12, nEmbd: 768, dropout: 0, lora: { rank: 0, alpha: 0, dropout: 0 } };

function generateLoad(url: string, connections: number, amount: number, authorization: string, body: object): Promise<AutocannonResult> {
  return autocannon({ url, connections, amount, authorization, body, timeoutS: 120, limitMs: RUN_LIMIT_MS });
}

interface Level {
  clients: number;
  perSecond: number[];
  p50: number[];
  p99: number[];
  failures: number;
}

/** Publishes `count` versions of one shape for `agentId` (random weights, byte tokenizer). */
async function publish(db: BenchDatabase, root: string, agentId: string, shape: ModelConfig, count: number): Promise<string[]> {
  const config: RunConfig = resolveRunConfig('quick', { seed: 1 });
  config.policyModel = shape;
  config.ppo.generation = { ...config.ppo.generation, maxNewTokens: NEW_TOKENS, minNewTokens: 1, temperature: 1, topK: 0, topP: 1 };
  const versions: string[] = [];
  for (let i = 0; i < count; i++) {
    const model = GptModel.create(shape, new Rng(100 + i));
    const row = await new PolicyVersionRepository(db.orm.em.fork()).saveForRun({
      agentId,
      trainingRunId: uniqueId('bench-serve-run'),
      modelKey: 'bench',
      rewardModelKey: 'bench',
      feedbackCount: 0,
      rewardMean: 0,
      rewardStd: 1,
      metrics: {},
    });
    await savePolicy(path.join(root, ...policyKey(agentId, row.version, 'policy').split('/')), model, new ByteTokenizer(), config);
    model.dispose();
    versions.push(row.version);
  }
  return versions;
}

async function withServe<T>(envVars: Record<string, string>, fn: (app: FastifyInstance, base: string) => Promise<T>): Promise<T> {
  const app = await buildServeApp({ env: loadEnv({ ...process.env, ...envVars }) }, false);
  try {
    const base = await app.listen({ host: '127.0.0.1', port: 0 });
    return await fn(app, base);
  } finally {
    await app.close();
  }
}

async function levels(base: string, agentId: string, auth: string, clientsList: number[], amountFor: (c: number) => number, runs: number, body: object): Promise<Level[]> {
  const url = `${base}/v1/agents/${agentId}/generate`;
  await generateLoad(url, 2, 8, auth, body); // warm-up: model load, JIT
  const out: Level[] = [];
  for (const clients of clientsList) {
    const level: Level = { clients, perSecond: [], p50: [], p99: [], failures: 0 };
    for (let r = 0; r < runs; r++) {
      const res = await generateLoad(url, clients, amountFor(clients), auth, body);
      level.perSecond.push(res['2xx'] / res.duration);
      level.p50.push(res.latency.p50);
      level.p99.push(res.latency.p99);
      level.failures += res.non2xx + res.errors + res.timeouts;
      console.log(`${agentId} c=${clients} run ${r + 1}: ${(res['2xx'] / res.duration).toFixed(2)} req/s, p50 ${res.latency.p50} ms, p99 ${res.latency.p99} ms, failures ${res.non2xx + res.errors + res.timeouts}`);
    }
    out.push(level);
  }
  return out;
}

const fmt = (s: Summary, d = 0) => `${s.median.toFixed(d)} (${s.min.toFixed(d)}–${s.max.toFixed(d)})`;
const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(0);

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '3' },
      requests: { type: 'string', default: '200' },
      'gpt2-requests': { type: 'string', default: '16' },
      soak: { type: 'string', default: '10000' },
      'skip-gpt2': { type: 'boolean', default: false },
    },
  });
  const runs = Number(values.runs);
  const requests = Number(values.requests);
  const gpt2Requests = Number(values['gpt2-requests']);
  const soak = Number(values.soak);
  const start = loadSnapshot();
  const backend = await initBackend({ log: () => undefined });
  const services = await benchServices((l) => console.log(l));
  const db = await createBenchDatabase(services.databaseUrl);
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'bench-serve-'));
  const baseEnv = { DATABASE_URL: db.url, ARTIFACT_ROOT: root, SERVE_RATE_LIMIT_MAX: '100000000', LOG_LEVEL: 'warn', SERVE_MODEL_BUDGET_MB: '4096' };
  const sections: string[] = [];
  try {
    const projects = new ProjectRepository(db.orm.em.fork());
    const project = await projects.ensure(uniqueId('bench-serve'));
    const { key } = await projects.createKey(project.id, 'bench-serve');
    const auth = `Bearer ${key}`;
    const claim = (agentId: string) => new AgentRepository(db.orm.em.fork()).claim(agentId, project.id);
    const body = { prompt: PROMPT, maxNewTokens: NEW_TOKENS };

    // 1. The demo's model shape, batched and unbatched.
    const demoAgent = uniqueId('serve-demo');
    await claim(demoAgent);
    await publish(db, root, demoAgent, DEMO_SHAPE, 1);
    const clients = [1, 8, 32];
    const amount = (c: number) => Math.max(requests, c * 4);
    const batched = await withServe({ ...baseEnv, SERVE_MAX_BATCH_ROWS: '32' }, (_app, base) => levels(base, demoAgent, auth, clients, amount, runs, body));
    const unbatched = await withServe({ ...baseEnv, SERVE_MAX_BATCH_ROWS: '1' }, (_app, base) => levels(base, demoAgent, auth, clients, amount, runs, body));
    const demoRows = clients.map((c, i) => {
      const b = batched[i];
      const u = unbatched[i];
      const tps = summarize(b.perSecond.map((x) => x * NEW_TOKENS));
      return [
        c,
        fmt(summarize(b.p50)),
        fmt(summarize(b.p99)),
        fmt(tps),
        fmt(summarize(u.p99)),
        fmt(summarize(u.perSecond.map((x) => x * NEW_TOKENS))),
        `${(summarize(b.perSecond).median / summarize(u.perSecond).median).toFixed(2)}×`,
        b.failures + u.failures,
      ];
    });
    sections.push(
      `**Demo model shape** (quick preset: 2 layers × 4 heads × 48, vocabulary 512, block 128), ${NEW_TOKENS}-token completions, ` +
        `${requests} requests per run (at least 4 per client), median (min–max) of ${runs} runs after a warm-up:`,
      '',
      mdTable(['clients', 'batched p50 ms', 'batched p99 ms', 'batched tokens/s', 'unbatched p99 ms', 'unbatched tokens/s', 'throughput batched / unbatched', 'failures'], demoRows),
      '',
    );

    // 2. Memory over many requests (demo model, 8 clients, 8 tokens).
    const soakAgent = demoAgent;
    const soakResult = await withServe({ ...baseEnv, SERVE_MAX_BATCH_ROWS: '32' }, async (_app, base) => {
      const url = `${base}/v1/agents/${soakAgent}/generate`;
      const short = { prompt: PROMPT, maxNewTokens: 8 };
      await generateLoad(url, 8, 500, auth, short); // warm-up: allocator and JIT settle
      const before = { rss: process.memoryUsage().rss, tensors: tf.memory().numTensors };
      const res = await generateLoad(url, 8, soak, auth, short);
      const after = { rss: process.memoryUsage().rss, tensors: tf.memory().numTensors };
      return { before, after, ok: res['2xx'], failures: res.non2xx + res.errors + res.timeouts };
    });
    sections.push(
      `**Memory over ${soak.toLocaleString('en-US')} requests** (demo model, 8 clients, 8-token completions, after 500 warm-up requests): ` +
        `RSS ${mib(soakResult.before.rss)} → ${mib(soakResult.after.rss)} MiB; live TensorFlow.js tensors ${soakResult.before.tensors} → ${soakResult.after.tensors}; ` +
        `${soakResult.ok} answered, ${soakResult.failures} failures.`,
      '',
    );

    // 3. GPT-2-small shape: latency, and RSS with 1, 2, 3 versions loaded.
    if (!values['skip-gpt2']) {
      const gptAgent = uniqueId('serve-gpt2');
      await claim(gptAgent);
      const versions = await publish(db, root, gptAgent, GPT2_SMALL_SHAPE, 3);
      const gpt = await withServe({ ...baseEnv, SERVE_MAX_BATCH_ROWS: '32' }, async (_app, base) => {
        const rssBefore = process.memoryUsage().rss;
        const lat = await levels(base, gptAgent, auth, clients, (c) => Math.max(gpt2Requests, c), Math.min(runs, 2), { ...body, version: versions[0] });
        const rss = [process.memoryUsage().rss];
        for (const v of versions.slice(1)) {
          await generateLoad(`${base}/v1/agents/${gptAgent}/generate`, 1, 1, auth, { prompt: PROMPT, maxNewTokens: 1, version: v });
          rss.push(process.memoryUsage().rss);
        }
        return { lat, rss, rssBefore };
      });
      sections.push(
        `**GPT-2-small shape** (12 layers × 12 heads × 768, vocabulary 50,257, block 1024: 124M parameters), batched, ${NEW_TOKENS}-token completions, ` +
          `${gpt2Requests} requests per run (at least one per client), median (min–max) of ${Math.min(runs, 2)} runs:`,
        '',
        mdTable(
          ['clients', 'p50 ms', 'p99 ms', 'tokens/s', 'failures'],
          gpt.lat.map((l) => [l.clients, fmt(summarize(l.p50)), fmt(summarize(l.p99)), fmt(summarize(l.perSecond.map((x) => x * NEW_TOKENS)), 1), l.failures]),
        ),
        '',
        `RSS of the serving process: ${mib(gpt.rssBefore)} MiB before any GPT-2-small version was loaded (demo versions already unloaded with their app), ` +
          `${gpt.rss.map((r, i) => `${mib(r)} MiB with ${i + 1} loaded`).join(', ')} (float32 weights: 475 MiB a version).`,
        '',
      );
    }
  } finally {
    await db.dispose();
    await services.stop();
    await fs.rm(root, { recursive: true, force: true });
  }
  const md = [
    '## Serving: the generate endpoint (issue 13)',
    '',
    machineLine(`backend ${backend.name}; serving app, Postgres and autocannon on this machine, loopback only`, start),
    '',
    `Command: \`npx tsx bench/serve.ts --runs ${runs} --requests ${requests} --gpt2-requests ${gpt2Requests} --soak ${soak}${values['skip-gpt2'] ? ' --skip-gpt2' : ''}\`. ` +
      'Each request: `POST /v1/agents/:agentId/generate {prompt, maxNewTokens}` with an API key, through version choice, the policy cache, ' +
      'the batcher (KV-cached decoding) and the generation_request insert; autocannon is its own process. tokens/s = answered requests/s × 32 ' +
      '(random weights rarely emit EOS, so completions run to the limit).',
    '',
    ...sections,
  ].join('\n');
  await writeSection('serve', md);
  console.log(md);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
