/**
 * Bases by hub id against a real local HTTP server that serves the committed tiny-gpt2 fixture in
 * the Hugging Face Hub's URL layout: `/{repo}/resolve/{revision}/{file}`, small files answered
 * directly with their git blob sha1 as ETag, the weights (an LFS file) 302-redirected to a "CDN"
 * path with X-Linked-Etag = sha256 and X-Linked-Size, Range requests answered with 206.
 * Faults: the first weights transfer is cut mid-body (the download must resume with a Range
 * request), and one repository announces a wrong sha256 (clear error, nothing published).
 */
import { promises as fs } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { downloadHubConfig, downloadHubModel, hubSnapshotDir, type HubProgress } from '../../hub/hf-hub';
import { loadHfModelDir } from '../../ml/hf/load';
import { FIXTURE_DIR, makeTempDir, readExpectations } from './fixture';
import { startHub, type Served } from './hub-server';

let server: http.Server;
let endpoint: string;
let served: Served;
let fixture: Map<string, Buffer>;

beforeAll(async () => {
  fixture = new Map();
  for (const f of await fs.readdir(FIXTURE_DIR)) if (f !== 'expected.json') fixture.set(f, await fs.readFile(path.join(FIXTURE_DIR, f)));
  // A sharded copy: one shard named by model.safetensors.index.json, no model.safetensors.
  const sharded = new Map(fixture);
  sharded.delete('model.safetensors');
  sharded.set('model-00001-of-00001.safetensors', fixture.get('model.safetensors')!);
  const header = JSON.parse(readSafetensorsHeader(fixture.get('model.safetensors')!)) as Record<string, unknown>;
  const weightMap = Object.fromEntries(Object.keys(header).filter((k) => k !== '__metadata__').map((k) => [k, 'model-00001-of-00001.safetensors']));
  sharded.set('model.safetensors.index.json', Buffer.from(JSON.stringify({ metadata: {}, weight_map: weightMap })));
  // vocab.json + merges.txt only (no tokenizer.json).
  const slow = new Map(fixture);
  slow.delete('tokenizer.json');
  served = {
    repos: new Map([
      ['org/tiny-gpt2', fixture],
      ['tiny-gpt2', fixture],
      ['org/bad-sum', fixture],
      ['org/bad-git-sum', fixture],
      ['org/sharded', sharded],
      ['org/slow-tokenizer', slow],
    ]),
    badSha: new Set(['org/bad-sum']),
    badGitSha: new Set(['org/bad-git-sum']),
    cutNextCdnTransfer: false,
    log: [],
  };
  server = await startHub(served);
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

function readSafetensorsHeader(buf: Buffer): string {
  const n = Number(buf.readBigUInt64LE(0));
  return buf.subarray(8, 8 + n).toString('utf8');
}

async function expectSameAsFixture(dir: string, files: string[]): Promise<void> {
  for (const f of files) expect((await fs.readFile(path.join(dir, f))).equals(fixture.get(f)!)).toBe(true);
}

test('downloads a snapshot through the redirect, resumes a transfer cut mid-file, verifies it, and loads it like a baseModelDir', async () => {
  const cacheDir = await makeTempDir('hub-cache');
  served.log.length = 0;
  served.cutNextCdnTransfer = true;
  const progress: HubProgress[] = [];
  const dir = await downloadHubModel({ repo: 'org/tiny-gpt2' }, { endpoint, cacheDir, progressBar: false, onProgress: (p) => progress.push(p) });
  expect(dir).toBe(hubSnapshotDir({ repo: 'org/tiny-gpt2', revision: 'main' }, cacheDir));
  expect(dir).toBe(path.resolve(cacheDir, 'org--tiny-gpt2', 'main'));
  await expectSameAsFixture(dir, ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json']);

  // The weights went through the hub's 302 to the CDN; the first transfer died halfway (negative status
  // marks the cut), the second asked for the rest with a Range header and got 206.
  const cdnGets = served.log.filter((r) => r.method === 'GET' && r.url.startsWith('/cdn/'));
  expect(served.log.some((r) => r.url === '/org/tiny-gpt2/resolve/main/model.safetensors' && r.status === 302)).toBe(true);
  expect(cdnGets.map((r) => r.status)).toEqual([-200, 206]);
  const size = fixture.get('model.safetensors')!.length;
  const resumedFrom = Number(/^bytes=(\d+)-$/.exec(cdnGets[1].range ?? '')?.[1]);
  expect(resumedFrom).toBeGreaterThan(0);
  expect(resumedFrom).toBeLessThan(size);
  expect(progress.filter((p) => p.file === 'model.safetensors').at(-1)).toEqual({ file: 'model.safetensors', received: size, total: size });
  // Nothing half-written is left beside the published files.
  expect((await fs.readdir(dir)).filter((f) => f.includes('.partial') || f.startsWith('.tmp-'))).toEqual([]);

  // Loaded exactly as a baseModelDir: the fixture's config and tokenizer.
  const expected = await readExpectations();
  const loaded = await loadHfModelDir(dir);
  try {
    expect(loaded.config.nEmbd).toBe(expected.config.n_embd);
    for (const t of expected.tokenizer) expect(loaded.tokenizer.encode(t.text)).toEqual(t.ids);
  } finally {
    loaded.model.dispose();
  }

  // A second call finds every file verified in the cache: HEADs only, no GET.
  served.log.length = 0;
  await downloadHubModel({ repo: 'org/tiny-gpt2' }, { endpoint, cacheDir, progressBar: false });
  expect(served.log.filter((r) => r.method === 'GET')).toEqual([]);

  // Offline (nothing listens at the endpoint): the complete cached snapshot is used.
  const offline = await downloadHubModel({ repo: 'org/tiny-gpt2' }, { endpoint: 'http://127.0.0.1:9', cacheDir, progressBar: false, retries: 0 });
  expect(offline).toBe(dir);
});

test('a partial file left by a killed process is resumed by the next call', async () => {
  const cacheDir = await makeTempDir('hub-partial');
  const dir = hubSnapshotDir({ repo: 'tiny-gpt2' }, cacheDir);
  await fs.mkdir(dir, { recursive: true });
  const weights = fixture.get('model.safetensors')!;
  await fs.writeFile(path.join(dir, 'model.safetensors.partial'), weights.subarray(0, 1000));
  served.log.length = 0;
  await downloadHubModel({ repo: 'tiny-gpt2' }, { endpoint, cacheDir, progressBar: false });
  const cdnGets = served.log.filter((r) => r.method === 'GET' && r.url.startsWith('/cdn/'));
  expect(cdnGets).toEqual([{ method: 'GET', url: '/cdn/tiny-gpt2/model.safetensors', range: 'bytes=1000-', status: 206 }]);
  await expectSameAsFixture(dir, ['model.safetensors']);
});

test('a checksum mismatch is a clear HfHubChecksumError and publishes nothing', async () => {
  const cacheDir = await makeTempDir('hub-bad');
  const err = await downloadHubModel({ repo: 'org/bad-sum' }, { endpoint, cacheDir, progressBar: false }).then(
    () => null,
    (e: Error) => e,
  );
  expect(err?.name).toBe('HfHubChecksumError');
  expect(err?.message).toMatch(/org\/bad-sum@main\/model\.safetensors: sha256 [0-9a-f]{64} .* does not match the hub's [0-9a-f]{64}/);
  const dir = hubSnapshotDir({ repo: 'org/bad-sum' }, cacheDir);
  const left = await fs.readdir(dir);
  expect(left).not.toContain('model.safetensors');
  expect(left).not.toContain('model.safetensors.partial');
  expect(left).not.toContain('.complete.json');
});

test('a small file is verified against its git blob sha1 etag: a mismatch is refused the same way', async () => {
  const cacheDir = await makeTempDir('hub-bad-git');
  const err = await downloadHubConfig({ repo: 'org/bad-git-sum' }, { endpoint, cacheDir, progressBar: false }).catch((e: Error) => e);
  expect(err).toMatchObject({ name: 'HfHubChecksumError', file: 'config.json' });
  expect((err as Error).message).toMatch(/config\.json: git blob sha1 [0-9a-f]{40} .* does not match the hub's [0-9a-f]{40}/);
  const left = await fs.readdir(hubSnapshotDir({ repo: 'org/bad-git-sum' }, cacheDir));
  expect(left).toEqual([]);
});

test('sharded weights (model.safetensors.index.json) and vocab.json + merges.txt tokenizers', async () => {
  const cacheDir = await makeTempDir('hub-sharded');
  const sharded = await downloadHubModel({ repo: 'org/sharded' }, { endpoint, cacheDir, progressBar: false });
  expect((await fs.readdir(sharded)).sort()).toEqual(
    expect.arrayContaining(['model.safetensors.index.json', 'model-00001-of-00001.safetensors', 'config.json', 'tokenizer.json']),
  );
  expect(await fs.readdir(sharded)).not.toContain('model.safetensors');
  const slow = await downloadHubModel({ repo: 'org/slow-tokenizer' }, { endpoint, cacheDir, progressBar: false });
  expect(await fs.readdir(slow)).toEqual(expect.arrayContaining(['vocab.json', 'merges.txt']));
  expect(await fs.readdir(slow)).not.toContain('tokenizer.json');
  const expected = await readExpectations();
  for (const dir of [sharded, slow]) {
    const loaded = await loadHfModelDir(dir);
    try {
      for (const t of expected.tokenizer) expect(loaded.tokenizer.encode(t.text)).toEqual(t.ids);
    } finally {
      loaded.model.dispose();
    }
  }
});

test('an unknown repository or revision is HfHubNotFoundError; ids that could leave the cache are refused', async () => {
  const cacheDir = await makeTempDir('hub-missing');
  const missing = await downloadHubConfig({ repo: 'org/nope' }, { endpoint, cacheDir, progressBar: false }).catch((e: Error) => e);
  expect(missing).toMatchObject({ name: 'HfHubNotFoundError', repo: 'org/nope', file: 'config.json', status: 404 });
  const config = await downloadHubConfig({ repo: 'org/tiny-gpt2' }, { endpoint, cacheDir, progressBar: false });
  expect(await fs.readdir(config)).toEqual(expect.arrayContaining(['config.json']));
  expect(() => hubSnapshotDir({ repo: '../etc' }, cacheDir)).toThrow(/not a Hugging Face model id/);
  expect(() => hubSnapshotDir({ repo: 'a/b/c' }, cacheDir)).toThrow(/not a Hugging Face model id/);
  expect(() => hubSnapshotDir({ repo: 'gpt2', revision: '../x' }, cacheDir)).toThrow(/not a valid revision/);
});
