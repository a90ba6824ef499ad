import { existsSync } from 'node:fs';
import path from 'node:path';
import type { BackendInfo } from '../../ml/backend';
import { backendOrder } from '../../ml/backend';
import { Rng } from '../../ml/rng';
import { tf } from '../../ml/tf';
import type { Tensor } from '../../ml/tf';

/** Whether scripts/native/provision-tensorflow.sh installed a binding in this checkout (CI: yes; RLHF_NATIVE=0: no). */
const bindingPresent = (pkg: string): boolean => existsSync(path.join(__dirname, '../../node_modules', pkg, 'lib/napi-v8/tfjs_binding.node'));
const nativeProvisioned = bindingPresent('@tensorflow/tfjs-node') && process.env.RLHF_NATIVE !== '0';
const gpuBindingPresent = bindingPresent('@tensorflow/tfjs-node-gpu');

/** A fresh copy of ml/backend (its cache empty); tfjs-core's engine itself is process-global. */
function freshBackendModule(): typeof import('../../ml/backend') {
  let mod: typeof import('../../ml/backend') | undefined;
  jest.isolateModules(() => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- isolateModules needs a synchronous require
    mod = require('../../ml/backend') as typeof import('../../ml/backend');
  });
  return mod!;
}

describe('backendOrder', () => {
  it('is native GPU → native → wasm → cpu by default; prefer moves one to the front', () => {
    expect(backendOrder()).toEqual(['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu']);
    expect(backendOrder('cpu')).toEqual(['cpu', 'tensorflow-gpu', 'tensorflow', 'wasm']);
  });

  it('rejects an unknown name with BackendError', () => {
    expect(() => backendOrder('tpu')).toThrow(expect.objectContaining({ name: 'BackendError', message: expect.stringMatching(/tpu/) }));
  });
});

describe('initBackend', () => {
  const savedEnv = process.env.RLHF_BACKEND;
  afterEach(async () => {
    if (savedEnv === undefined) delete process.env.RLHF_BACKEND;
    else process.env.RLHF_BACKEND = savedEnv;
    await tf.setBackend('cpu');
  });

  it('falls back past absent native packages, says why, logs once and is idempotent', async () => {
    // The world without native TensorFlow (RLHF_NATIVE=0, or a machine where provisioning failed).
    process.env.RLHF_NATIVE = '0';
    try {
      const { initBackend } = freshBackendModule();
      const logs: string[] = [];
      const info = await initBackend({ prefer: 'tensorflow', log: (m) => logs.push(m) });
      expect(info.name).toBe('wasm');
      expect(info.reason).toMatch(/@tensorflow\/tfjs-node skipped \(RLHF_NATIVE=0\)/);
      expect(info.tensorflowVersion).toBeUndefined();
      expect(tf.getBackend()).toBe('wasm');
      const again: BackendInfo = await initBackend({ prefer: 'cpu', log: (m) => logs.push(m) });
      expect(again).toEqual(info);
      expect(logs).toHaveLength(1);
      expect(logs[0]).toMatch(/wasm/);
      // The backend computes correctly.
      expect(tf.matMul(tf.tensor2d([[1, 2]]), tf.tensor2d([[3], [4]])).dataSync()[0]).toBe(11);
    } finally {
      delete process.env.RLHF_NATIVE;
    }
  });

  it('a native package without its binding is skipped, named as not provisioned (tfjs-node-gpu has no binding here)', async () => {
    if (gpuBindingPresent) return; // a GPU worker built the -gpu binding: nothing is absent to test
    const info = await freshBackendModule().initBackend({ prefer: 'tensorflow-gpu', log: () => undefined });
    expect(info.name).not.toBe('tensorflow-gpu');
    expect(info.reason).toMatch(/@tensorflow\/tfjs-node-gpu not provisioned \(no native binding; scripts\/native\/provision-nvidia\.sh builds it\)/);
  });

  (nativeProvisioned ? it : it.skip)('uses the provisioned native backend, with its TensorFlow version and thread counts', async () => {
    const { initBackend, backendStatus } = freshBackendModule();
    const info = await initBackend({ prefer: 'tensorflow', log: () => undefined });
    expect(info).toMatchObject({ name: 'tensorflow', package: '@tensorflow/tfjs-node', tensorflowVersion: expect.stringMatching(/^2\.\d+\.\d+/) });
    expect(info.intraOpThreads).toBeGreaterThanOrEqual(1);
    expect(info.interOpThreads).toBe(1);
    expect(backendStatus(info)).toMatch(/^tensorflow 2\.\d+\.\d+ \(@tensorflow\/tfjs-node\), threads \d+ intra \/ 1 inter$/);
    expect(tf.getBackend()).toBe('tensorflow');
    // The project's gradients survive the native package's import of @tensorflow/tfjs (which replaces
    // them): tfjs's own BatchMatMul gradient breaks on a broadcast batch.
    const [, db] = tf.grads((a: Tensor, b: Tensor) => tf.sum(tf.matMul(a, b)))([tf.ones([2, 2, 3]), tf.ones([1, 3, 2])]);
    expect(db.shape).toEqual([1, 3, 2]);
    expect(Array.from(db.dataSync())).toEqual([4, 4, 4, 4, 4, 4]);
  });

  it('honours RLHF_BACKEND', async () => {
    process.env.RLHF_BACKEND = 'cpu';
    const info = await freshBackendModule().initBackend({ log: () => undefined });
    expect(info).toEqual({ name: 'cpu', package: '@tensorflow/tfjs-backend-cpu' });
    expect(tf.getBackend()).toBe('cpu');
  });

  it('rejects an unknown RLHF_BACKEND and does not cache the failure', async () => {
    const { initBackend } = freshBackendModule();
    process.env.RLHF_BACKEND = 'quantum';
    await expect(initBackend({ log: () => undefined })).rejects.toMatchObject({ name: 'BackendError' });
    process.env.RLHF_BACKEND = 'cpu';
    await expect(initBackend({ log: () => undefined })).resolves.toMatchObject({ name: 'cpu' });
  });
});

/**
 * ml/tf registers the kernel gradients that tfjs-core's Node bundle lacks. Each is checked
 * against central finite differences of Σ f(x)·R on the cpu backend, and on native TensorFlow when
 * it is provisioned (its own kernels, the project's gradients).
 */
describe.each(nativeProvisioned ? ['cpu', 'tensorflow'] : ['cpu'])('registered gradients match finite differences (%s)', (backend) => {
  beforeAll(async () => {
    if (backend === 'tensorflow') await freshBackendModule().initBackend({ prefer: 'tensorflow', log: () => undefined });
    await tf.setBackend(backend);
  });
  afterAll(async () => {
    await tf.setBackend('cpu');
  });
  const rng = new Rng(5);
  const t = (shape: number[], lo = -1, hi = 1): Tensor => {
    const n = shape.reduce((a, b) => a * b, 1);
    return tf.tensor(Float32Array.from({ length: n }, () => lo + (hi - lo) * rng.next()), shape);
  };

  function check(f: (...xs: Tensor[]) => Tensor, inputs: Tensor[]): void {
    const out = f(...inputs);
    const proj = t(out.shape);
    const loss = (...xs: Tensor[]): Tensor => tf.sum(tf.mul(f(...xs), proj));
    const analytic = tf.grads(loss)(inputs).map((g) => g.dataSync());
    const eps = 1e-2;
    inputs.forEach((x, i) => {
      const base = x.dataSync().slice();
      for (let k = 0; k < base.length; k++) {
        const at = (delta: number): number => {
          const v = base.slice();
          v[k] += delta;
          const xs = inputs.map((y, j) => (j === i ? tf.tensor(v, x.shape) : y));
          return loss(...xs).dataSync()[0];
        };
        const numeric = (at(eps) - at(-eps)) / (2 * eps);
        expect(Math.abs(analytic[i][k] - numeric)).toBeLessThan(5e-3 * Math.max(1, Math.abs(numeric)));
      }
    });
  }

  const cases: Array<[string, (...xs: Tensor[]) => Tensor, () => Tensor[]]> = [
    ['add (broadcast)', (a, b) => tf.add(a, b), () => [t([2, 3]), t([3])]],
    ['sub (broadcast)', (a, b) => tf.sub(a, b), () => [t([2, 1]), t([2, 3])]],
    ['mul (broadcast)', (a, b) => tf.mul(a, b), () => [t([2, 3]), t([1, 3])]],
    ['div', (a, b) => tf.div(a, b), () => [t([4]), t([4], 1, 2)]],
    ['maximum / minimum', (a, b) => tf.add(tf.maximum(a, b), tf.minimum(a, b)), () => [tf.tensor1d([0.1, 0.9, -0.5]), tf.tensor1d([0.5, 0.2, 0.3])]],
    ['squaredDifference', (a, b) => tf.squaredDifference(a, b), () => [t([3]), t([3])]],
    ['pow', (a, b) => tf.pow(a, b), () => [t([3], 0.5, 2), t([3], 1, 3)]],
    ['addN', (a, b) => tf.addN([a, b, a]), () => [t([3]), t([3])]],
    ['unary smooth ops', (x) => tf.addN([tf.exp(x), tf.tanh(x), tf.sigmoid(x), tf.softplus(x), tf.erf(x), tf.neg(tf.square(x))]), () => [t([5])]],
    ['log / sqrt / rsqrt / reciprocal / log1p', (x) => tf.addN([tf.log(x), tf.sqrt(x), tf.rsqrt(x), tf.reciprocal(x), tf.log1p(x)]), () => [t([4], 0.5, 2)]],
    ['abs / relu / clipByValue', (x) => tf.addN([tf.abs(x), tf.relu(x), tf.clipByValue(x, -0.5, 0.5)]), () => [tf.tensor1d([-0.9, -0.3, 0.2, 0.7])]],
    ['where', (a, b) => tf.where(tf.tensor1d([true, false, true], 'bool'), a, b), () => [t([3]), t([3])]],
    ['reshape / transpose / expandDims / reverse', (x) => tf.reverse(tf.expandDims(tf.transpose(tf.reshape(x, [3, 2])), 0), 2), () => [t([6])]],
    ['slice / pad', (x) => tf.pad(tf.slice(x, [0, 1], [2, 2]), [[1, 0], [0, 2]]), () => [t([2, 4])]],
    ['concat / split', (a, b) => tf.mul(tf.split(tf.concat([a, b], 1), [1, 4], 1)[1], 2), () => [t([2, 2]), t([2, 3])]],
    ['stack / unstack', (a, b) => tf.mul(tf.stack(tf.unstack(tf.stack([a, b], 1), 0)), 3), () => [t([2, 2]), t([2, 2])]],
    ['tile / broadcastTo', (x) => tf.add(tf.tile(x, [2, 3]), tf.reshape(tf.broadcastTo(tf.reshape(x, [1, 2, 1]), [2, 2, 1]), [4, 1])), () => [t([2, 1])]],
    ['gather along axis 1 with repeats', (x) => tf.gather(x, tf.tensor1d([2, 0, 2], 'int32'), 1), () => [t([2, 3])]],
    ['sum / mean over axes', (x) => tf.add(tf.sum(x, 1, true), tf.mean(x, [0, 1])), () => [t([2, 3])]],
    ['max / min', (x) => tf.add(tf.max(x, 1), tf.sum(tf.min(x, 0))), () => [tf.tensor2d([[0.1, 0.7, -0.2], [0.5, -0.6, 0.3]])]],
    ['cumsum (plain, exclusive, reverse)', (x) => tf.addN([tf.cumsum(x, 1), tf.cumsum(x, 1, true), tf.cumsum(x, 1, false, true)]), () => [t([2, 4])]],
    ['softmax / logSoftmax', (x) => tf.add(tf.softmax(x), tf.logSoftmax(x)), () => [t([2, 4], -2, 2)]],
    ['matMul, all transpose flags', (a, b) =>
      tf.addN([tf.matMul(a, b), tf.matMul(a, tf.transpose(b), false, true), tf.matMul(tf.transpose(a), b, true, false), tf.matMul(tf.transpose(a), tf.transpose(b), true, true)]),
    () => [t([2, 3]), t([3, 2])]],
    ['batched matMul with broadcast batch', (a, b) => tf.matMul(a, b), () => [t([2, 2, 3]), t([1, 3, 2])]],
  ];

  it.each(cases)('%s', (_name, f, inputs) => {
    tf.tidy(() => check(f, inputs()));
  });
});
