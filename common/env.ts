/**
 * Process configuration from the environment, read once at start-up and passed down
 * (no module-level singleton). The TypeBox schema is the one truth: the `Env` type is
 * derived from it, and so are the defaults. Secrets have no defaults.
 */
import { Type, type Static } from 'typebox';
import { Value } from 'typebox/value';

export const EnvSchema = Type.Object({
  /** Postgres connection string. Unset: the scripts start embedded Postgres and set it. */
  DATABASE_URL: Type.Optional(Type.String({ minLength: 1 })),
  /** Temporal frontend host:port. Unset: the scripts start the dev server on this default. */
  TEMPORAL_ADDRESS: Type.String({ default: '127.0.0.1:7233' }),
  TEMPORAL_NAMESPACE: Type.String({ default: 'default' }),
  /** mTLS for a real cluster: client certificate and key paths (both or neither). */
  TEMPORAL_TLS_CERT: Type.Optional(Type.String()),
  TEMPORAL_TLS_KEY: Type.Optional(Type.String()),
  /** Temporal Web UI base URL, for links printed to users. */
  TEMPORAL_UI_URL: Type.String({ default: 'http://127.0.0.1:8233' }),
  /** Root directory of the local artifact store (datasets, checkpoints, models). */
  ARTIFACT_ROOT: Type.String({ default: 'models' }),
  API_HOST: Type.String({ default: '127.0.0.1' }),
  API_PORT: Type.Integer({ default: 3000, minimum: 0, maximum: 65535 }),
  LOG_LEVEL: Type.Union(
    [Type.Literal('fatal'), Type.Literal('error'), Type.Literal('warn'), Type.Literal('info'), Type.Literal('debug'), Type.Literal('trace'), Type.Literal('silent')],
    { default: 'info' },
  ),
  /**
   * Requests one API key may make per RATE_LIMIT_WINDOW_MS (@fastify/rate-limit; 429 with
   * Retry-After past it). Generous: a client batching feedback never needs 100 requests/s,
   * and a load test that does raises it explicitly.
   */
  RATE_LIMIT_MAX: Type.Integer({ default: 6000, minimum: 1 }),
  RATE_LIMIT_WINDOW_MS: Type.Integer({ default: 60_000, minimum: 1 }),
  /**
   * Postgres connections one API process may hold. A request holds one for a few short queries,
   * a bulk import for as long as it streams. The default was the constant 10; 20 lets more commits
   * share one WAL flush at 100 concurrent clients and leaves room for a few streaming bulk requests.
   * Keep API_POOL_MAX × API processes under Postgres's max_connections (100 by default).
   */
  API_POOL_MAX: Type.Integer({ default: 20, minimum: 1 }),
  /** The serving process (serve/, issue 13): its address. */
  SERVE_HOST: Type.String({ default: '127.0.0.1' }),
  SERVE_PORT: Type.Integer({ default: 3100, minimum: 0, maximum: 65535 }),
  /**
   * Weights the serving process keeps loaded, MiB of float32 (serve/policy-cache.ts LRU). 1 GiB
   * holds two GPT-2-small policies (124M parameters, 475 MiB each) or thousands of demo-sized ones.
   */
  SERVE_MODEL_BUDGET_MB: Type.Integer({ default: 1024, minimum: 1 }),
  /** Most completions one forward pass of the serving process batches (serve/generation-batcher.ts). */
  SERVE_MAX_BATCH_ROWS: Type.Integer({ default: 32, minimum: 1, maximum: 1024 }),
  /**
   * Generate calls one API key may make per RATE_LIMIT_WINDOW_MS to the serving process, counted
   * apart from the API's RATE_LIMIT_MAX: generation costs far more than a feedback write.
   */
  SERVE_RATE_LIMIT_MAX: Type.Integer({ default: 1200, minimum: 1 }),
  /**
   * How long, ms, an API process trusts an API key it has verified (api/plugins/app/auth.ts):
   * a revoked key stops working on every process within this time. 0 checks the database on
   * every request. 5 s spares the key lookup on all but one request per key per 5 s.
   */
  AUTH_CACHE_TTL_MS: Type.Integer({ default: 5000, minimum: 0 }),
  // A run's event stream ends after this long; the client reconnects with Last-Event-ID and misses nothing
  // (api/run-event-stream.ts). Bounds what one idle watcher holds, as proxies bound stream lifetimes.
  RUN_EVENTS_MAX_STREAM_S: Type.Integer({ default: 600, minimum: 1 }),
  /**
   * Requests one API key may make per RATE_LIMIT_WINDOW_MS to each bulk route (feedback import
   * and export; api/routes/feedback-bulk.ts), counted apart from RATE_LIMIT_MAX. Each bulk request
   * holds a database connection for as long as its body or answer streams, so the limit is low:
   * 30 a minute is one 1,000,000-row import every 2 s, more than one key's client needs.
   */
  BULK_RATE_LIMIT_MAX: Type.Integer({ default: 30, minimum: 1 }),
  /**
   * Largest feedback import, bytes of NDJSON after gzip decoding (the compressed upload is held
   * to the same bound; a gzip bomb stops here). 1 GiB holds about 5,000,000 rows of 200 bytes.
   * Past it: 413 and nothing kept.
   */
  IMPORT_MAX_BYTES: Type.Integer({ default: 1024 * 1024 * 1024, minimum: 1 }),
  /**
   * How long the API remembers an Idempotency-Key's answer (api/idempotency.ts), hours: a retry
   * within it is replayed, never written twice. Expired records are deleted hourly, so a key
   * is remembered for at least this long and at most an hour more. 24 h, as Stripe's API.
   */
  IDEMPOTENCY_KEY_TTL_HOURS: Type.Integer({ default: 24, minimum: 1 }),
  /**
   * Port of a worker's own Prometheus `/metrics` (worker/metrics.ts): prom-client's process metrics, the
   * training gauges of its active runs, and the Temporal SDK's runtime metrics, merged on this one port.
   * Unset: no metrics server. 0: any free port (the worker logs which). Each worker process needs its own.
   */
  WORKER_METRICS_PORT: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
  /** Interface the worker's /metrics listens on. Loopback by default: expose it to your Prometheus deliberately. */
  WORKER_METRICS_HOST: Type.String({ default: '127.0.0.1' }),
  /** Force a TensorFlow.js backend: tensorflow-gpu | tensorflow | wasm | cpu. */
  RLHF_BACKEND: Type.Optional(Type.Union([Type.Literal('tensorflow-gpu'), Type.Literal('tensorflow'), Type.Literal('wasm'), Type.Literal('cpu')])),
  /**
   * The TensorFlow.js backend the training workers run on, as the API's dry-run time estimate assumes it
   * (api/dry-run-estimate.ts FLOPS_PER_SECOND_BY_BACKEND); the API never loads TensorFlow.js itself.
   * Unset: RLHF_BACKEND, else wasm when RLHF_NATIVE=0, else tensorflow (the default once provisioned).
   */
  RLHF_WORKER_BACKEND: Type.Optional(Type.Union([Type.Literal('tensorflow-gpu'), Type.Literal('tensorflow'), Type.Literal('wasm'), Type.Literal('cpu')])),
  /** '0' skips native TensorFlow: provisioning does not build it and the workers do not load it (WASM instead). */
  RLHF_NATIVE: Type.Optional(Type.Union([Type.Literal('0'), Type.Literal('1')])),
  /**
   * TensorFlow's intra-op thread count on native backends (ml/backend.ts nativeThreadEnv). Unset: the
   * machine's cores. Every worker of one run should use the same value: resume is bit-exact per count.
   */
  RLHF_NATIVE_THREADS: Type.Optional(Type.String({ pattern: '^[1-9][0-9]*$' })),
  /**
   * Directory holding the Hugging Face base models a training request may name
   * (`baseModelDir`, resolved inside it). Unset: requests naming a base are refused.
   */
  RLHF_BASE_MODEL_ROOT: Type.Optional(Type.String({ minLength: 1 })),
  /**
   * Hugging Face Hub endpoint for `baseModel` (a hub id; hub/hf-hub reads it at download time).
   * Default https://huggingface.co; a mirror, or the tests' local server.
   */
  HF_ENDPOINT: Type.Optional(Type.String({ pattern: '^https?://' })),
  /** Cache of hub snapshots (hub/hf-hub), on the API host (config.json) and every worker. Default .cache/hf-hub. */
  RLHF_HF_CACHE: Type.Optional(Type.String({ minLength: 1 })),
  /**
   * heartbeatTimeout, seconds, of the training activities of every run this API starts: how
   * soon a killed GPU worker is noticed. Unset: the workflow's defaults, 10 s (60 s for the
   * medium preset, 300 s on a Hugging Face base; workflows/training-run.ts says why). Raise it
   * for slow hardware, where one minibatch or batch may compute for longer than two thirds of it.
   */
  RLHF_TRAINING_HEARTBEAT_TIMEOUT_S: Type.Optional(Type.Integer({ minimum: 1 })),
  /**
   * Retention (issue 17), GPU worker: checkpoints of a run kept at the end of each PPO chunk;
   * older ones are deleted so a long run does not fill the disk. A resume needs only the newest
   * that verifies; the second is the fallback when the newest is torn.
   */
  RLHF_KEEP_CHECKPOINTS: Type.Integer({ default: 2, minimum: 1 }),
  /**
   * Retention, CPU worker: '1' keeps a run's copy of the feedback (runs/<id>/dataset/) and its
   * checkpoints after its version is saved; by default they are deleted then, so customers'
   * prompts and responses live in Postgres and in no forgotten copy.
   */
  RLHF_KEEP_RUN_ARTIFACTS: Type.Union([Type.Literal('0'), Type.Literal('1')], { default: '0' }),
});
export type Env = Static<typeof EnvSchema>;

/** Thrown when an environment variable is missing or malformed; `variable` names it. */
export class EnvError extends Error {
  override readonly name = 'EnvError';
  constructor(
    message: string,
    readonly variable: string,
  ) {
    super(message);
  }
}

/** Parses the given environment (default: process.env) into a typed, defaulted Env. */
export function loadEnv(source: NodeJS.ProcessEnv = process.env): Env {
  const known = Object.keys(EnvSchema.properties);
  const picked: Record<string, unknown> = {};
  for (const key of known) if (source[key] !== undefined && source[key] !== '') picked[key] = source[key];
  const withDefaults = Value.Default(EnvSchema, Value.Convert(EnvSchema, picked));
  const first = Value.Errors(EnvSchema, withDefaults)[0];
  if (first) {
    const variable = first.instancePath.replace(/^\//, '') || 'environment';
    throw new EnvError(`invalid environment variable ${variable}: ${first.message}`, variable);
  }
  const env = withDefaults as Env;
  if (Boolean(env.TEMPORAL_TLS_CERT) !== Boolean(env.TEMPORAL_TLS_KEY)) {
    throw new EnvError('TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY must be set together', 'TEMPORAL_TLS_CERT');
  }
  return env;
}
