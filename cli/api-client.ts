/**
 * The one HTTP client of the REST API, shared by the `rlhf` CLI and the demo. It knows the routes, the
 * bearer auth, the error body `{error, message, field?, line?}` and when a request may be retried: reads, and
 * writes carrying an Idempotency-Key, are retried on 503/429 (honouring Retry-After) and on a lost
 * connection; other writes never are. Response types are the API's own TypeBox schemas.
 */
import type { Static } from 'typebox';
import type { FeedbackBatchCreated, FeedbackImported } from '../api/schemas/feedback';
import type { PolicyListBody } from '../api/schemas/policies';
import type { AbReportBody, DeploymentBody, DeploymentView } from '../api/schemas/deployments';
import type { DryRunBody, RunAccepted, RunStartedBody, RunView, TrainBody } from '../api/schemas/runs';
import type { PresetName } from '../spec/run-config';
import { ApiError, RouteUnavailableError } from './errors';

export type RunViewBody = Static<typeof RunView>;
/** The train body; `preset` typed from spec/run-config (TypeBox's Static of a Union built with .map() is not precise). */
export type TrainRequest = Omit<Static<typeof TrainBody>, 'preset'> & { preset?: PresetName };
export type DryRunAnswer = Static<typeof DryRunBody>;
export type RunStarted = Static<typeof RunStartedBody>;
export type PolicyList = Static<typeof PolicyListBody>;
export type RunControlAction = 'pause' | 'resume' | 'cancel';

/** One feedback row as the batch route takes it. */
export interface FeedbackItem {
  prompt: string;
  response: string;
  score: number;
  runId: string;
  notes?: string;
  /** The serve/ generate answer's requestId: attributes the row to the version that answered. */
  requestId?: string;
}

/** One run in `GET /api/runs` (the fields the CLI shows; the server may send more). */
export interface RunSummary {
  runId: string;
  agentId: string;
  status: string;
  createdAt: string;
  finishedAt?: string | null;
}

export interface RunListQuery {
  agentId?: string;
  status?: string;
  since?: string;
  cursor?: string;
  limit?: number;
}

export interface ClientConfig {
  /** e.g. http://127.0.0.1:3000 (no trailing slash needed). */
  baseUrl: string;
  apiKey: string;
  /** Attempts of a retryable request (default 5). */
  maxAttempts?: number;
  /** Cap on one wait between attempts, ms (default 10 s; Retry-After above it is capped). */
  maxRetryWaitMs?: number;
}

/** A streamed request body: opened again for each attempt, so a retried upload starts from its first byte. */
export interface Upload {
  contentType: string;
  /** Content-Encoding of what `open` yields (e.g. gzip); none when absent. */
  contentEncoding?: string;
  open(): AsyncIterable<Uint8Array>;
}

interface RequestOptions {
  body?: unknown;
  upload?: Upload;
  headers?: Record<string, string>;
  /** May this request be sent again after a 503/429 or a lost connection? */
  retryable: boolean;
}

interface Answer<T> {
  status: number;
  body: T;
  headers: Headers;
}

const RETRY_STATUSES = new Set([429, 503]);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class RlhfApiClient {
  readonly baseUrl: string;
  private readonly maxAttempts: number;
  private readonly maxRetryWaitMs: number;

  constructor(private readonly config: ClientConfig) {
    this.baseUrl = config.baseUrl.replace(/\/+$/, '');
    this.maxAttempts = config.maxAttempts ?? 5;
    this.maxRetryWaitMs = config.maxRetryWaitMs ?? 10_000;
  }

  /** `POST /api/policies/feedback/:agentId/batch` (≤ 1000 items, all-or-nothing) under an Idempotency-Key. */
  async feedbackBatch(agentId: string, items: FeedbackItem[], idempotencyKey: string): Promise<{ ids: string[]; replayed: boolean }> {
    const res = await this.request<Static<typeof FeedbackBatchCreated>>('POST', `/api/policies/feedback/${enc(agentId)}/batch`, {
      body: { items },
      headers: { 'idempotency-key': idempotencyKey },
      retryable: true,
    });
    expectStatus(res, [201], 'feedback batch');
    return { ids: res.body.ids, replayed: res.headers.get('idempotent-replayed') === 'true' };
  }

  /**
   * `POST /api/policies/feedback/:agentId/import`: the whole body in one request, all or nothing on the
   * server, under an Idempotency-Key (so a retry, or a re-run, replays rather than writes twice). A line
   * the server refuses is an ApiError with its `line` and `field`.
   */
  async feedbackImport(agentId: string, upload: Upload, idempotencyKey: string): Promise<{ imported: number; replayed: boolean }> {
    const res = await this.request<Static<typeof FeedbackImported>>('POST', `/api/policies/feedback/${enc(agentId)}/import`, {
      upload,
      headers: { 'idempotency-key': idempotencyKey },
      retryable: true,
    });
    expectStatus(res, [201], 'feedback import');
    return { imported: res.body.imported, replayed: res.headers.get('idempotent-replayed') === 'true' };
  }

  /** `POST /api/policies/train_policy/:agentId`: a dry run's estimate, or the started run. */
  async train(agentId: string, body: TrainRequest): Promise<{ kind: 'dry_run'; answer: DryRunAnswer } | { kind: 'started'; answer: RunStarted }> {
    const res = await this.request<DryRunAnswer | RunStarted>('POST', `/api/policies/train_policy/${enc(agentId)}`, { body, retryable: false });
    expectStatus(res, [200, 202], 'train_policy');
    return res.status === 200 ? { kind: 'dry_run', answer: res.body as DryRunAnswer } : { kind: 'started', answer: res.body as RunStarted };
  }

  /** `GET /api/runs/:runId`: the run, its live progress and its result once completed. */
  async getRun(runId: string): Promise<RunViewBody> {
    const res = await this.request<RunViewBody>('GET', `/api/runs/${enc(runId)}`, { retryable: true });
    expectStatus(res, [200], `run ${runId}`);
    return res.body;
  }

  /** `GET /api/runs`: the project's runs, one page. RouteUnavailableError on a server without the route. */
  async listRuns(query: RunListQuery = {}): Promise<{ items: RunSummary[]; nextCursor: string | null }> {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined) qs.set(k, String(v));
    const path = `/api/runs${qs.size ? `?${qs}` : ''}`;
    const res = await this.request<{ items?: RunSummary[]; runs?: RunSummary[]; nextCursor?: string | null }>('GET', path, { retryable: true });
    if (isMissingRoute(res)) throw new RouteUnavailableError('GET /api/runs');
    expectStatus(res, [200], 'run list');
    return { items: res.body.items ?? res.body.runs ?? [], nextCursor: res.body.nextCursor ?? null };
  }

  /**
   * `GET /api/runs/:runId/events` (Server-Sent Events), resuming after `lastEventId` when given: the open
   * response body, or null when this server has no such route (an older server: poll instead).
   */
  async openRunEvents(runId: string, lastEventId: string | null, signal: AbortSignal): Promise<ReadableStream<Uint8Array> | null> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.config.apiKey}`, accept: 'text/event-stream' };
    if (lastEventId !== null) headers['last-event-id'] = lastEventId;
    let res: Response;
    try {
      res = await fetch(`${this.baseUrl}/api/runs/${enc(runId)}/events`, { headers, signal });
    } catch (err) {
      throw new ApiError(`cannot reach the API at ${this.baseUrl}: ${causeOf(err)}`, 0, 'unreachable', null);
    }
    if (res.status === 200 && res.body && (res.headers.get('content-type') ?? '').startsWith('text/event-stream')) return res.body;
    const text = await res.text();
    let body: unknown = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      // not JSON: reported below with the status
    }
    const answer = { status: res.status, body, headers: res.headers };
    if (isMissingRoute(answer)) return null;
    expectStatus(answer, [], `events of run ${runId}`);
    return null;
  }

  /** `POST /api/runs/:runId/{pause,resume,cancel}` (202). */
  async controlRun(runId: string, action: RunControlAction): Promise<Static<typeof RunAccepted>> {
    const res = await this.request<Static<typeof RunAccepted>>('POST', `/api/runs/${enc(runId)}/${action}`, { retryable: false });
    expectStatus(res, [202], `${action} of run ${runId}`);
    return res.body;
  }

  /** `GET /api/policies/:agentId`: the agent's policy versions, newest first. */
  async listPolicies(agentId: string): Promise<PolicyList> {
    const res = await this.request<PolicyList>('GET', `/api/policies/${enc(agentId)}`, { retryable: true });
    expectStatus(res, [200], `policies of ${agentId}`);
    return res.body;
  }

  /** `PUT /api/policies/:agentId/deployment`: what serve/ answers with, and in which shares. */
  async setDeployment(agentId: string, body: Static<typeof DeploymentBody>): Promise<Static<typeof DeploymentView>> {
    const res = await this.request<Static<typeof DeploymentView>>('PUT', `/api/policies/${enc(agentId)}/deployment`, { body, retryable: true });
    expectStatus(res, [200], `deployment of ${agentId}`);
    return res.body;
  }

  /** `GET /api/policies/:agentId/ab`: versions compared on attributed feedback. */
  async abReport(agentId: string, since?: string): Promise<Static<typeof AbReportBody>> {
    const query = since ? `?since=${enc(since)}` : '';
    const res = await this.request<Static<typeof AbReportBody>>('GET', `/api/policies/${enc(agentId)}/ab${query}`, { retryable: true });
    expectStatus(res, [200], `A/B report of ${agentId}`);
    return res.body;
  }

  /**
   * The score bounds the server enforces on feedback, read from its OpenAPI document (`/docs/json`),
   * so a file can be checked in full before anything is sent. `{}` (any finite number) when the
   * document does not say.
   */
  async feedbackScoreRange(): Promise<{ min?: number; max?: number }> {
    const res = await this.request<OpenApiDoc>('GET', '/docs/json', { retryable: true });
    if (res.status !== 200) return {};
    const op = res.body.paths?.['/api/policies/feedback/{agentId}/batch']?.post;
    const score = op?.requestBody?.content?.['application/json']?.schema?.properties?.items?.items?.properties?.score;
    return {
      ...(typeof score?.minimum === 'number' ? { min: score.minimum } : {}),
      ...(typeof score?.maximum === 'number' ? { max: score.maximum } : {}),
    };
  }

  private async request<T>(method: string, path: string, opts: RequestOptions): Promise<Answer<T>> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.config.apiKey}`, ...opts.headers };
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    if (opts.upload) {
      headers['content-type'] = opts.upload.contentType;
      if (opts.upload.contentEncoding) headers['content-encoding'] = opts.upload.contentEncoding;
    }
    const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    for (let attempt = 1; ; attempt++) {
      const last = !opts.retryable || attempt >= this.maxAttempts;
      let res: Response;
      try {
        // A streamed body needs duplex 'half' (fetch standard, "RequestInit"; Node's undici insists on it).
        const init: RequestInit = opts.upload ? { method, headers, body: opts.upload.open(), duplex: 'half' } : { method, headers, body };
        res = await fetch(`${this.baseUrl}${path}`, init);
      } catch (err) {
        if (last) throw new ApiError(`cannot reach the API at ${this.baseUrl}: ${causeOf(err)}`, 0, 'unreachable', null);
        await sleep(this.backoffMs(attempt, null));
        continue;
      }
      const text = await res.text();
      if (!last && RETRY_STATUSES.has(res.status)) {
        await sleep(this.backoffMs(attempt, res.headers.get('retry-after')));
        continue;
      }
      let parsed: unknown = null;
      try {
        parsed = text ? JSON.parse(text) : null;
      } catch {
        throw new ApiError(`${method} ${path} answered ${res.status} with a body that is not JSON`, res.status, null, null);
      }
      return { status: res.status, body: parsed as T, headers: res.headers };
    }
  }

  /** Retry-After (seconds) when the server sent one, else 0.5 s doubling; capped at maxRetryWaitMs. */
  private backoffMs(attempt: number, retryAfter: string | null): number {
    const seconds = retryAfter === null ? NaN : Number(retryAfter);
    const ms = Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : 500 * 2 ** (attempt - 1);
    return Math.min(ms, this.maxRetryWaitMs);
  }
}

/** The slice of an OpenAPI document feedbackScoreRange reads. */
interface OpenApiDoc {
  paths?: Record<string, { post?: { requestBody?: { content?: Record<string, { schema?: { properties?: { items?: { items?: { properties?: { score?: { minimum?: unknown; maximum?: unknown } } } } } } }> } } }>;
}

const enc = encodeURIComponent;

/** A 404 of the not-found handler (no route), unlike a 404 about an id, which names its field. */
function isMissingRoute(res: Answer<unknown>): boolean {
  const body = res.body as { field?: unknown } | null;
  return res.status === 404 && errorCode(res.body) === 'not_found' && body?.field === undefined;
}

function errorCode(body: unknown): string | null {
  const code = (body as { error?: unknown } | null)?.error;
  return typeof code === 'string' ? code : null;
}

/** Throws an ApiError carrying the server's own message and field unless the status is expected. */
function expectStatus(res: Answer<unknown>, ok: number[], what: string): void {
  if (ok.includes(res.status)) return;
  const body = (res.body ?? {}) as { message?: unknown; field?: unknown; runId?: unknown; line?: unknown };
  const message = typeof body.message === 'string' ? body.message : 'no message';
  const field = typeof body.field === 'string' ? body.field : null;
  const line = Number.isSafeInteger(body.line) ? (body.line as number) : null;
  const active = typeof body.runId === 'string' ? ` (active run ${body.runId})` : '';
  throw new ApiError(
    `${what}: the API answered ${res.status} ${errorCode(res.body) ?? ''}: ${message}${field ? ` [field ${field}]` : ''}${active}`,
    res.status,
    errorCode(res.body),
    field,
    line,
    message,
  );
}

function causeOf(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (err instanceof Error ? err.message : String(err));
}
