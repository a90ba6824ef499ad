/** The serving process's LRU of loaded policies (serve/policy-cache.ts): budget, recency, pinning, shared loads, missing versions. */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { initBackend } from '../../ml/backend';
import { GptModel } from '../../ml/model';
import { savePolicy } from '../../ml/policy-export';
import { Rng } from '../../ml/rng';
import { ByteTokenizer } from '../../ml/tokenizer';
import { PolicyCache, PolicyUnavailableError } from '../../serve/policy-cache';
import { LocalArtifactStore } from '../../storage/artifact-store';
import { tinyRunConfig } from '../ml/fixtures/ppo-setup';

let root: string;
let store: LocalArtifactStore;
/** Bytes of one tiny policy's float32 weights. */
let policyBytes: number;

beforeAll(async () => {
  await initBackend({ log: () => undefined });
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'policy-cache-'));
  store = new LocalArtifactStore(root);
  const config = tinyRunConfig();
  for (const v of ['v1', 'v2', 'v3']) {
    const model = GptModel.create(config.policyModel, new Rng(Number(v.slice(1))));
    policyBytes = model.parameterCount() * 4;
    await savePolicy(store.resolve(`agent-c/${v}/policy`), model, new ByteTokenizer(), config);
    model.dispose();
  }
});
afterAll(() => fs.rm(root, { recursive: true, force: true }));

it('keeps at most the budget loaded, evicting the least recently used', async () => {
  const cache = new PolicyCache(store, 2 * policyBytes);
  for (const v of ['v1', 'v2']) (await cache.acquire('agent-c', v)).release();
  (await cache.acquire('agent-c', 'v1')).release(); // v1 is now the most recent
  (await cache.acquire('agent-c', 'v3')).release(); // evicts v2
  expect(cache.stats()).toMatchObject({ loaded: 2, bytes: 2 * policyBytes, loads: 3, evictions: 1 });
  (await cache.acquire('agent-c', 'v1')).release(); // still loaded: no new load
  expect(cache.stats().loads).toBe(3);
  (await cache.acquire('agent-c', 'v2')).release(); // loads again, evicting v3
  expect(cache.stats()).toMatchObject({ loads: 4, evictions: 2, loaded: 2 });
  cache.clear();
});

it('never disposes a pinned policy, and shares one load between concurrent requests', async () => {
  const cache = new PolicyCache(store, policyBytes);
  const [a, b] = await Promise.all([cache.acquire('agent-c', 'v1'), cache.acquire('agent-c', 'v1')]);
  expect(a.policy).toBe(b.policy);
  expect(cache.stats().loads).toBe(1);
  const c = await cache.acquire('agent-c', 'v2'); // over budget, but v1 is pinned twice
  expect(cache.stats()).toMatchObject({ loaded: 2, evictions: 0 });
  a.release();
  a.release(); // a second release of one handle is a no-op
  expect(cache.stats().evictions).toBe(0);
  b.release(); // v1 unpinned: evicted now, as the least recently used
  expect(cache.stats()).toMatchObject({ loaded: 1, evictions: 1 });
  expect(a.policy.policy.parameterCount()).toBeGreaterThan(0);
  c.release();
  cache.clear();
});

it('answers PolicyUnavailableError for a version missing from the store', async () => {
  const cache = new PolicyCache(store, policyBytes);
  await expect(cache.acquire('agent-c', 'v9')).rejects.toBeInstanceOf(PolicyUnavailableError);
  expect(cache.stats().loaded).toBe(0);
});
