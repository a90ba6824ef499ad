/**
 * Exact resume across processes: N updates, checkpoint to disk, exit; a fresh process
 * restores and runs M more. The result must equal an uninterrupted N+M run bit for bit:
 * every weight (float32 bytes) and every metric except the wall-clock `time/*` ones.
 * Run on every backend this checkout has: cpu, wasm, and native TensorFlow when it is provisioned
 * (with 2 intra-op threads in every process, as the workers of one run would have). RLHF_NATIVE=0 (the
 * WASM pass of scripts/test.sh) leaves native out.
 */
import { existsSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { MetricKeys, type UpdateMetrics } from '../../common/names';

const run = promisify(execFile);
const WORKER = path.join(__dirname, 'fixtures', 'resume-worker.ts');
const nativeProvisioned =
  process.env.RLHF_NATIVE !== '0' && existsSync(path.join(__dirname, '../../node_modules/@tensorflow/tfjs-node/lib/napi-v8/tfjs_binding.node'));
const BACKENDS = ['cpu', 'wasm', ...(nativeProvisioned ? ['tensorflow'] : [])];
const N = 2;
const M = 2;

interface WorkerResult {
  backend: string;
  updatesDone: number;
  klCoef: number;
  metrics: UpdateMetrics[];
  weights: Record<string, string>;
}

const TIME_KEYS = new Set<string>([MetricKeys.timeRollout, MetricKeys.timeUpdate, MetricKeys.timeTotal]);
const withoutTimes = (m: UpdateMetrics) => Object.fromEntries(Object.entries(m).filter(([k]) => !TIME_KEYS.has(k)));

async function worker(backend: string, dir: string, name: string, args: string[]): Promise<WorkerResult> {
  const out = path.join(dir, `${name}.json`);
  await run('npx', ['tsx', WORKER, '--out', out, ...args], {
    cwd: path.join(__dirname, '..', '..'),
    env: { ...process.env, RLHF_BACKEND: backend, RLHF_NATIVE_THREADS: '2', TF_NUM_INTRAOP_THREADS: '2' },
    maxBuffer: 16 << 20,
  });
  return JSON.parse(await fs.readFile(out, 'utf8')) as WorkerResult;
}

describe.each(BACKENDS)('PPO resume in a separate process (%s backend)', (BACKEND) => {
  let dir: string;
  let uninterrupted: WorkerResult;
  let firstHalf: WorkerResult;
  let resumed: WorkerResult;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ppo-resume-'));
    const ckpt = path.join(dir, 'update-000002');
    [uninterrupted, firstHalf] = await Promise.all([
      worker(BACKEND, dir, 'full', ['--updates', String(N + M)]),
      worker(BACKEND, dir, 'first', ['--updates', String(N), '--checkpoint', ckpt]),
    ]);
    resumed = await worker(BACKEND, dir, 'resumed', ['--updates', String(M), '--from', ckpt]);
  }, 300_000);

  afterAll(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('ran every segment on the requested backend', () => {
    for (const r of [uninterrupted, firstHalf, resumed]) expect(r.backend).toBe(BACKEND);
    expect(resumed.updatesDone).toBe(N + M);
  });

  it('the resumed run reproduces the uninterrupted metrics exactly (time/* aside)', () => {
    expect(firstHalf.metrics.map(withoutTimes)).toEqual(uninterrupted.metrics.slice(0, N).map(withoutTimes));
    expect(resumed.metrics.map(withoutTimes)).toEqual(uninterrupted.metrics.slice(N).map(withoutTimes));
    expect(resumed.klCoef).toBe(uninterrupted.klCoef);
  });

  it('the resumed run ends with bit-identical weights', () => {
    expect(Object.keys(resumed.weights).sort()).toEqual(Object.keys(uninterrupted.weights).sort());
    const differing = Object.keys(uninterrupted.weights).filter((name) => resumed.weights[name] !== uninterrupted.weights[name]);
    expect(differing).toEqual([]);
    // And training did move them, so the comparison is not between two untouched models.
    const moved = Object.keys(firstHalf.weights).filter((name) => firstHalf.weights[name] !== uninterrupted.weights[name]);
    expect(moved.length).toBeGreaterThan(0);
  });
});
