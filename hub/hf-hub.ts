/**
 * A GPT-2-family base model by Hugging Face Hub id (`gpt2`, `distilgpt2`, `org/name`, optional
 * revision), downloaded into a local cache and then loaded exactly as a `baseModelDir` is.
 *
 * Wire layout (the hub's public HTTP API, as huggingface_hub's `hf_hub_download` uses it):
 *   HEAD {endpoint}/{repo}/resolve/{revision}/{file}
 *     200 for a small (git) file: `ETag` = the git blob sha1 of its content;
 *     302 for an LFS file (weights), `Location` = the CDN, `X-Linked-Etag` = its sha256,
 *     `X-Linked-Size` = its size; both carry `X-Repo-Commit`.
 *   GET the same URL (redirects followed by hand, at most MAX_REDIRECTS) with `Range: bytes=N-`.
 * The endpoint comes from env HF_ENDPOINT (default https://huggingface.co; mirrors and the tests'
 * local server use it), the cache from RLHF_HF_CACHE (default .cache/hf-hub under the working
 * directory).
 *
 * Verification: every file is checked before it is published. An LFS file's sha256 must equal
 * the hub's `X-Linked-Etag`. A small file's etag is not a sha256 but the git blob id,
 * sha1("blob {size}\0" + content); that is recomputed and compared too, so every file is
 * verified against the hub's own checksum (sha1 only guards the small text files; the weights,
 * where a corrupt byte would go unnoticed in training, are sha256). A file whose etag has
 * neither form (40 or 64 hex digits) is refused rather than trusted.
 *
 * Resumable: bytes go to `{file}.partial` in the cache; a broken connection is retried with
 * `Range: bytes={partial size}-` (a 206 appends, a 200 starts over), up to `retries` times, and a
 * later call resumes a partial left by a killed process. Atomic: the verified partial is fsynced
 * and renamed onto its name (storage/atomic-write.ts's fsyncDir makes the rename durable), so a
 * reader sees a whole verified file or none; a checksum mismatch deletes the partial.
 *
 * Cache layout: {cache}/{org}--{name}/{revision}/{file}, plus {file}.etag holding the etag it was
 * verified against. A cached file whose etag still matches the hub's is not downloaded again; when
 * the hub cannot be reached, a complete cached snapshot is used as is (offline).
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as http from 'node:http';
import * as https from 'node:https';
import * as path from 'node:path';
import { ARTIFACT_FILE_MODE, atomicWriteFile, publishSyncedFile } from '../storage/atomic-write';
import { HfHubChecksumError, HfHubNotFoundError, HfHubTransferError } from '../spec/hf-errors';
import { HF_CONFIG_FILE } from '../spec/hf-files';
import { HfTokenizerFiles } from '../spec/hf-files';
import { HfWeightFiles } from '../spec/hf-files';

export const DEFAULT_HF_ENDPOINT = 'https://huggingface.co';
export const DEFAULT_HF_REVISION = 'main';
/** The hub 302s LFS files to a CDN (one hop); a few more allow a mirror in front of it. */
const MAX_REDIRECTS = 5;
/** Attempts per file after a broken transfer (each resumes where the last stopped). */
const DEFAULT_RETRIES = 4;

/** A repository id as the hub spells it: `name` or `org/name`, letters, digits, `-`, `_`, `.`. */
export const HUB_REPO_ID_PATTERN = '^(?:[A-Za-z0-9][A-Za-z0-9._-]{0,95}/)?[A-Za-z0-9][A-Za-z0-9._-]{0,95}$';
const REPO_ID = new RegExp(HUB_REPO_ID_PATTERN);
/** A branch, tag or commit; no `..` and no leading `/`, so it can never leave the cache directory. */
export const HUB_REVISION_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$';
const REVISION = new RegExp(HUB_REVISION_PATTERN);

export interface HubModelRef {
  /** `gpt2`, `distilgpt2`, `org/name`. */
  repo: string;
  /** Branch, tag or commit sha; default `main`. */
  revision?: string;
}

export interface HubProgress {
  file: string;
  /** Bytes of this file on disk so far (a resumed partial counts from its start). */
  received: number;
  /** Size announced by the hub, when known. */
  total: number | undefined;
}

export interface HubDownloadOptions {
  /** Hub endpoint; default env HF_ENDPOINT, else https://huggingface.co. */
  endpoint?: string;
  /** Cache root; default env RLHF_HF_CACHE, else .cache/hf-hub. */
  cacheDir?: string;
  /** Called as bytes arrive (at most every 64 KiB per file). */
  onProgress?: (p: HubProgress) => void;
  /** Draw a progress bar on stderr; default: when stderr is a terminal. */
  progressBar?: boolean;
  /** Broken-transfer retries per file; default 4. */
  retries?: number;
  /** Bearer token for gated or private repositories; default env HF_TOKEN. */
  token?: string;
}

/** Throws a RangeError naming the part of `ref` that is not a hub id or revision. */
export function validateHubRef(ref: HubModelRef): void {
  if (!REPO_ID.test(ref.repo) || ref.repo.includes('..')) {
    throw new RangeError(`'${ref.repo}' is not a Hugging Face model id (expected 'name' or 'org/name')`);
  }
  const revision = ref.revision ?? DEFAULT_HF_REVISION;
  if (!REVISION.test(revision) || revision.includes('..')) throw new RangeError(`'${revision}' is not a valid revision`);
}

/** The cache directory a ref downloads into (whether or not it exists yet). */
export function hubSnapshotDir(ref: HubModelRef, cacheDir = defaultCacheDir()): string {
  validateHubRef(ref);
  return path.resolve(cacheDir, ref.repo.replace('/', '--'), ref.revision ?? DEFAULT_HF_REVISION);
}

function defaultCacheDir(): string {
  return process.env.RLHF_HF_CACHE || path.join('.cache', 'hf-hub');
}

function defaultEndpoint(): string {
  return (process.env.HF_ENDPOINT || DEFAULT_HF_ENDPOINT).replace(/\/+$/, '');
}

/** What a HEAD on `resolve` says about one file. */
interface RemoteFile {
  /** sha256 (64 hex) for LFS files, git blob sha1 (40 hex) for others. */
  etag: string;
  size: number | undefined;
}

interface Ctx {
  ref: Required<HubModelRef>;
  endpoint: string;
  dir: string;
  retries: number;
  headers: Record<string, string>;
  onProgress: (p: HubProgress) => void;
}

function resolveUrl(ctx: Ctx, file: string): string {
  const rev = encodeURIComponent(ctx.ref.revision);
  return `${ctx.endpoint}/${ctx.ref.repo}/resolve/${rev}/${file.split('/').map(encodeURIComponent).join('/')}`;
}

/** One request, no redirect following; the body is left unread for the caller. */
function request(url: string, method: 'HEAD' | 'GET', headers: Record<string, string>): Promise<http.IncomingMessage> {
  const u = new URL(url);
  const mod = u.protocol === 'https:' ? https : u.protocol === 'http:' ? http : null;
  if (mod === null) return Promise.reject(new HfHubTransferError(`unsupported protocol in ${url}`, url));
  return new Promise((resolve, reject) => {
    // agent: false, a connection per request: a handful of requests per model, and no kept-alive
    // socket whose state a cut transfer or a bodiless HEAD answer could leave confused.
    const req = mod.request(u, { method, agent: false, headers: { 'user-agent': 'durable-rlhf', ...headers } }, resolve);
    req.setTimeout(60_000, () => req.destroy(new Error('no response for 60 s')));
    req.on('error', (err) => reject(new HfHubTransferError(`${method} ${url}: ${err.message}`, url)));
    req.end();
  });
}

const header = (res: http.IncomingMessage, name: string): string | undefined => {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
};

/** `W/"abc"` or `"abc"` → `abc`. */
const bareEtag = (etag: string | undefined): string | undefined => etag?.replace(/^W\//, '').replace(/^"(.*)"$/, '$1');

/** HEAD on resolve: the file's etag and size, or null for a 404 when `optional`. */
async function headFile(ctx: Ctx, file: string, optional: boolean): Promise<RemoteFile | null> {
  const url = resolveUrl(ctx, file);
  const res = await request(url, 'HEAD', ctx.headers);
  res.resume();
  const status = res.statusCode ?? 0;
  if ((status === 404 || status === 401 || status === 403) && optional) return null;
  if (status === 404 || status === 401 || status === 403) {
    throw new HfHubNotFoundError(
      `${ctx.ref.repo}@${ctx.ref.revision} has no ${file} on the hub (HTTP ${status}): check the model id and revision`,
      ctx.ref.repo,
      file,
      status,
    );
  }
  if (status >= 400 || status < 200) throw new HfHubTransferError(`HEAD ${url}: HTTP ${status}`, url);
  // For an LFS file the hub's X-Linked-* describe the content; the plain ETag/Content-Length would describe the redirect.
  const etag = bareEtag(header(res, 'x-linked-etag') ?? header(res, 'etag'));
  const sizeHeader = header(res, 'x-linked-size') ?? (status === 200 ? header(res, 'content-length') : undefined);
  if (etag === undefined || !/^(?:[0-9a-f]{40}|[0-9a-f]{64})$/.test(etag)) {
    throw new HfHubTransferError(`HEAD ${url}: no usable checksum (etag '${etag ?? ''}' is neither a sha256 nor a git sha1)`, url);
  }
  const size = sizeHeader === undefined ? undefined : Number(sizeHeader);
  return { etag, size: Number.isFinite(size) ? size : undefined };
}

const exists = (p: string): Promise<boolean> => fs.stat(p).then(() => true, () => false);
const fileSize = (p: string): Promise<number> => fs.stat(p).then((s) => s.size, () => 0);

/** sha256 or git-blob sha1 of a file, whichever the etag's length says. */
async function checksumOf(file: string, etag: string): Promise<string> {
  const sha1 = etag.length === 40;
  const hash = createHash(sha1 ? 'sha1' : 'sha256');
  if (sha1) hash.update(`blob ${await fileSize(file)}\0`); // git's object header (git-hash-object)
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * GET with `Range: bytes={have}-`, following redirects by hand; resolves with the response to
 * stream (206: append; 200: the whole body).
 */
async function openDownload(ctx: Ctx, file: string, have: number): Promise<http.IncomingMessage> {
  let url = resolveUrl(ctx, file);
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    // The token goes to the hub only, never to the CDN it redirects to (as huggingface_hub).
    const sameHost = new URL(url).host === new URL(ctx.endpoint).host;
    const headers: Record<string, string> = { ...(sameHost ? ctx.headers : {}), ...(have > 0 ? { range: `bytes=${have}-` } : {}) };
    const res = await request(url, 'GET', headers);
    const status = res.statusCode ?? 0;
    const location = header(res, 'location');
    if (status >= 300 && status < 400 && location !== undefined) {
      res.resume();
      url = new URL(location, url).toString();
      continue;
    }
    if (status === 200 || status === 206) return res;
    res.resume();
    throw new HfHubTransferError(`GET ${url}: HTTP ${status}`, url);
  }
  throw new HfHubTransferError(`GET ${resolveUrl(ctx, file)}: more than ${MAX_REDIRECTS} redirects`, url);
}

/**
 * Streams one response into the partial file (appending on 206) and fsyncs it; rejects when the
 * connection breaks (pipeline reports a premature close), leaving the bytes received so far.
 */
async function receive(ctx: Ctx, file: string, partial: string, res: http.IncomingMessage, have: number, total: number | undefined): Promise<void> {
  const append = res.statusCode === 206 && have > 0;
  let received = append ? have : 0;
  let reported = received;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      received += chunk.length;
      if (received - reported >= 65_536) {
        reported = received;
        ctx.onProgress({ file, received, total });
      }
      done(null, chunk);
    },
  });
  try {
    await pipeline(res, counter, createWriteStream(partial, { flags: append ? 'a' : 'w', mode: ARTIFACT_FILE_MODE }));
  } finally {
    const handle = await fs.open(partial, 'r+');
    await handle.sync().finally(() => handle.close());
  }
  ctx.onProgress({ file, received, total });
}

/** Downloads, verifies and publishes one file (see the module comment); returns its local path. */
async function fetchFile(ctx: Ctx, file: string, remote: RemoteFile): Promise<string> {
  const target = path.join(ctx.dir, file);
  const etagFile = `${target}.etag`;
  if ((await exists(target)) && (await fs.readFile(etagFile, 'utf8').catch(() => '')) === remote.etag) return target;
  await fs.mkdir(path.dirname(target), { recursive: true });
  const partial = `${target}.partial`;
  let lastError: unknown;
  for (let attempt = 0; attempt <= ctx.retries; attempt++) {
    let have = await fileSize(partial);
    if (remote.size !== undefined && have > remote.size) {
      await fs.rm(partial, { force: true });
      have = 0;
    }
    try {
      if (remote.size === undefined || have < remote.size) {
        const res = await openDownload(ctx, file, have);
        await receive(ctx, file, partial, res, have, remote.size);
      }
      lastError = undefined;
      break;
    } catch (err) {
      lastError = err; // the partial stays; the next attempt resumes from its size
    }
  }
  if (lastError !== undefined) {
    const url = resolveUrl(ctx, file);
    throw new HfHubTransferError(`downloading ${url} failed after ${ctx.retries + 1} attempts: ${(lastError as Error).message}`, url);
  }
  const size = await fileSize(partial);
  const actual = await checksumOf(partial, remote.etag);
  if ((remote.size !== undefined && size !== remote.size) || actual !== remote.etag) {
    await fs.rm(partial, { force: true });
    const what = remote.etag.length === 64 ? 'sha256' : 'git blob sha1';
    throw new HfHubChecksumError(
      `${ctx.ref.repo}@${ctx.ref.revision}/${file}: ${what} ${actual} (${size} bytes) does not match the hub's ${remote.etag}` +
        (remote.size === undefined ? '' : ` (${remote.size} bytes)`) + '; the download was discarded',
      file,
      remote.etag,
      actual,
    );
  }
  // Publish: the partial was fsynced by receive(); the rename is atomic and made durable.
  await publishSyncedFile(partial, target);
  await atomicWriteFile(etagFile, remote.etag);
  return target;
}

/** Every file a GPT-2-family snapshot needs, with its remote etag; optional files absent from the hub are left out. */
async function planFiles(ctx: Ctx): Promise<Map<string, RemoteFile>> {
  const plan = new Map<string, RemoteFile>();
  const add = async (file: string, optional: boolean): Promise<boolean> => {
    const remote = await headFile(ctx, file, optional);
    if (remote !== null) plan.set(file, remote);
    return remote !== null;
  };
  await add(HF_CONFIG_FILE, false);
  if (await add(HfWeightFiles.index, true)) {
    const indexPath = await fetchFile(ctx, HfWeightFiles.index, plan.get(HfWeightFiles.index)!);
    const index = JSON.parse(await fs.readFile(indexPath, 'utf8')) as { weight_map?: Record<string, unknown> };
    const shards = new Set(Object.values(index.weight_map ?? {}));
    for (const shard of shards) {
      if (typeof shard !== 'string' || shard.includes('/') || shard.includes('\\') || shard.startsWith('.')) {
        throw new HfHubTransferError(`${HfWeightFiles.index} names '${String(shard)}', not a shard file name`, resolveUrl(ctx, HfWeightFiles.index));
      }
      await add(shard, false);
    }
  } else {
    await add(HfWeightFiles.single, false);
  }
  if (!(await add(HfTokenizerFiles.tokenizerJson, true))) {
    await add(HfTokenizerFiles.vocab, false);
    await add(HfTokenizerFiles.merges, false);
  }
  for (const optional of [HfTokenizerFiles.config, HfTokenizerFiles.specialTokensMap, HfTokenizerFiles.addedTokens, 'generation_config.json']) {
    await add(optional, true);
  }
  return plan;
}

function makeCtx(ref: HubModelRef, opts: HubDownloadOptions): Ctx {
  validateHubRef(ref);
  const full = { repo: ref.repo, revision: ref.revision ?? DEFAULT_HF_REVISION };
  const token = opts.token ?? process.env.HF_TOKEN;
  const bar = opts.progressBar ?? process.stderr.isTTY === true;
  const draw = bar ? progressBar() : () => undefined;
  return {
    ref: full,
    endpoint: (opts.endpoint ?? defaultEndpoint()).replace(/\/+$/, ''),
    dir: hubSnapshotDir(full, opts.cacheDir ?? defaultCacheDir()),
    retries: opts.retries ?? DEFAULT_RETRIES,
    headers: token ? { authorization: `Bearer ${token}` } : {},
    onProgress: (p) => {
      draw(p);
      opts.onProgress?.(p);
    },
  };
}

/** A one-line `file [#####.....] 12.3/48.0 MB` bar on stderr, redrawn in place. */
function progressBar(): (p: HubProgress) => void {
  return (p) => {
    const mb = (n: number) => (n / 1e6).toFixed(1);
    const frac = p.total ? Math.min(1, p.received / p.total) : 0;
    const width = 30;
    const filled = Math.round(frac * width);
    const line = `${p.file} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${mb(p.received)}/${p.total ? mb(p.total) : '?'} MB`;
    process.stderr.write(`\r${line}${p.total !== undefined && p.received >= p.total ? '\n' : ''}`);
  };
}

/**
 * Only `config.json` (a few hundred bytes), downloaded and verified into the cache: what the API
 * needs to validate a request and shape the run's models without pulling the weights.
 */
export async function downloadHubConfig(ref: HubModelRef, opts: HubDownloadOptions = {}): Promise<string> {
  const ctx = makeCtx(ref, opts);
  const remote = await headFile(ctx, HF_CONFIG_FILE, false);
  await fetchFile(ctx, HF_CONFIG_FILE, remote!);
  return ctx.dir;
}

/**
 * The local directory of a complete, verified snapshot of `ref` (config, safetensors weights
 * single or sharded, tokenizer), downloading what is missing or changed. When the hub cannot be
 * reached and a complete snapshot is already cached, that snapshot is returned.
 */
export async function downloadHubModel(ref: HubModelRef, opts: HubDownloadOptions = {}): Promise<string> {
  const ctx = makeCtx(ref, opts);
  let plan: Map<string, RemoteFile>;
  try {
    plan = await planFiles(ctx);
  } catch (err) {
    if ((err as Error).name === 'HfHubTransferError' && (await isCompleteSnapshot(ctx.dir))) return ctx.dir;
    throw err;
  }
  for (const [file, remote] of plan) await fetchFile(ctx, file, remote);
  await atomicWriteFile(path.join(ctx.dir, COMPLETE_MARKER), JSON.stringify({ repo: ctx.ref.repo, revision: ctx.ref.revision, files: [...plan.keys()] }));
  return ctx.dir;
}

/** Written last by downloadHubModel: every planned file of the snapshot is verified and published. */
const COMPLETE_MARKER = '.complete.json';

const isCompleteSnapshot = (dir: string): Promise<boolean> => exists(path.join(dir, COMPLETE_MARKER));
