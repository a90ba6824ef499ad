/**
 * TensorFlow.js backend selection.
 *
 * Order (fastest first): tfjs-node-gpu (CUDA) → tfjs-node (native TensorFlow) → WASM → CPU.
 * WASM comes before CPU because it is far faster for training: one forward+backward of the
 * `small` policy (d=64, 2 layers, batch 8 × 64 tokens) took 130-530 ms on WASM against 2.85 s
 * on the pure-JS CPU backend (2 shared cores, tfjs 4.22). `RLHF_BACKEND`
 * or `opts.prefer` moves one backend to the front; if it cannot start, the default order
 * follows and the reason is recorded.
 *
 * The native packages are optional dependencies: they are loaded with a dynamic import inside
 * try/catch, and accepted only if they registered their backend with *our* tfjs-core (a copy
 * with its own tfjs-core would leave ml/ code on a different engine).
 *
 * State: the chosen backend is process-global in tfjs itself, so the result is cached here
 * and a second call returns the same info without logging again.
 */
import { existsSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { reinstallProjectGradients, tf } from './tf';
import { BackendError } from './errors';

export const BackendNames = {
  tensorflowGpu: 'tensorflow-gpu',
  tensorflow: 'tensorflow',
  wasm: 'wasm',
  cpu: 'cpu',
} as const;
export type BackendName = (typeof BackendNames)[keyof typeof BackendNames];

export interface BackendInfo {
  name: BackendName;
  /** npm package that provides it. */
  package: string;
  /** Why earlier candidates were skipped (absent when the first choice worked). */
  reason?: string;
  /** Native backends: the TensorFlow C library's version (TF_Version). */
  tensorflowVersion?: string;
  /** Native backends: TensorFlow's intra-op and inter-op thread pool sizes (see nativeThreadEnv). */
  intraOpThreads?: number;
  interOpThreads?: number;
}

/** One line for logs and /healthz-style status: `tensorflow 2.21.0 (@tensorflow/tfjs-node), threads 2 intra / 1 inter`. */
export function backendStatus(info: BackendInfo): string {
  const version = info.tensorflowVersion ? ` ${info.tensorflowVersion}` : '';
  const threads = info.intraOpThreads !== undefined ? `, threads ${info.intraOpThreads} intra / ${info.interOpThreads} inter` : '';
  return `${info.name}${version} (${info.package})${threads}`;
}

/**
 * TensorFlow sizes its thread pools from these variables when the process first creates a context
 * (tensorflow/core/common_runtime/process_util.cc); tfjs-node passes no session options, so they are
 * the only knob. They are fixed here, before the native package loads, for two reasons:
 *  - reproducibility: Eigen splits a contraction by the pool size, so a resumed run must use the same
 *    count as the run it resumes to stay bit-exact (RLHF_NATIVE_THREADS pins it across machines);
 *  - eager ops run one at a time, so one inter-op thread is enough and leaves the cores to intra-op work.
 * TF_CPP_MIN_LOG_LEVEL=1 drops TensorFlow's INFO lines (the CPU-feature banner) from worker logs.
 * Values already in the environment win.
 */
export function nativeThreadEnv(env: NodeJS.ProcessEnv = process.env): { intra: number; inter: number } {
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  env.TF_NUM_INTRAOP_THREADS ??= env.RLHF_NATIVE_THREADS ?? String(cores);
  env.TF_NUM_INTEROP_THREADS ??= '1';
  env.TF_CPP_MIN_LOG_LEVEL ??= '1';
  return { intra: Number(env.TF_NUM_INTRAOP_THREADS), inter: Number(env.TF_NUM_INTEROP_THREADS) };
}

export interface InitBackendOptions {
  /** Backend to try first; overridden by nothing, defaults to RLHF_BACKEND. */
  prefer?: string;
  log?: (msg: string) => void;
}

interface Candidate {
  name: BackendName;
  package: string;
  /** Name under which the package registers itself with tfjs-core. */
  tfName: string;
}

const CANDIDATES: readonly Candidate[] = [
  { name: 'tensorflow-gpu', package: '@tensorflow/tfjs-node-gpu', tfName: 'tensorflow' },
  { name: 'tensorflow', package: '@tensorflow/tfjs-node', tfName: 'tensorflow' },
  { name: 'wasm', package: '@tensorflow/tfjs-backend-wasm', tfName: 'wasm' },
  { name: 'cpu', package: '@tensorflow/tfjs-backend-cpu', tfName: 'cpu' },
];

const isBackendName = (s: string): s is BackendName => CANDIDATES.some((c) => c.name === s);

/** The order in which backends are tried, with `prefer` (if any) moved to the front. */
export function backendOrder(prefer?: string): BackendName[] {
  const names = CANDIDATES.map((c) => c.name);
  if (prefer === undefined || prefer === '') return names;
  if (!isBackendName(prefer)) {
    throw new BackendError(`unknown backend '${prefer}' (RLHF_BACKEND or prefer); use one of ${names.join(', ')}`);
  }
  return [prefer, ...names.filter((n) => n !== prefer)];
}

/**
 * WASM under Node: single-threaded binaries, loaded from the package's own dist directory (offline).
 * Threads are off because tfjs-backend-wasm 4.22 cannot run its threaded build under Node:
 * its own flag answers false on Node (tfjs issue 3830), and forcing it true makes Emscripten
 * start the pthread workers from `blob:` URLs, which Node 20's worker_threads rejects
 * (ERR_WORKER_PATH), so the backend fails to initialise (tried 2026-11-25).
 */
async function prepareWasm(): Promise<void> {
  const pkg = '@tensorflow/tfjs-backend-wasm';
  const wasm = (await import(pkg)) as typeof import('@tensorflow/tfjs-backend-wasm');
  // The package's "main" lives in dist/, next to the .wasm files.
  const distDir = path.dirname(require.resolve(pkg));
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  wasm.setWasmPaths(distDir + path.sep);
}

/** The script that builds each native package's binding. */
const PROVISION_SCRIPTS: Partial<Record<BackendName, string>> = {
  'tensorflow-gpu': 'scripts/native/provision-nvidia.sh',
  tensorflow: 'scripts/native/provision-tensorflow.sh',
};

/**
 * Whether an installed native package has its compiled binding (`lib/napi-v8/tfjs_binding.node`, where
 * scripts/native/ puts it). A package that is not installed at all counts as present here: its import
 * then fails with its own "cannot find module" message.
 */
function nativeBindingPresent(pkg: string): boolean {
  let dir: string;
  try {
    dir = path.dirname(require.resolve(`${pkg}/package.json`));
  } catch {
    return true;
  }
  return existsSync(path.join(dir, 'lib', 'napi-v8', 'tfjs_binding.node'));
}

/** Loads one candidate and makes it the active backend; returns null on success or the failure reason. */
async function tryCandidate(c: Candidate): Promise<string | null> {
  try {
    if (c.name === 'wasm') await prepareWasm();
    else if (c.name !== 'cpu') {
      // npm installs both native packages (optional dependencies) without their download scripts: a
      // missing binding means "never built here", which scripts/native/ provisions, not a fault. It is
      // checked before the import, which would register the package's kernels under 'tensorflow' before
      // failing, so the next package's registration warned once per kernel (155 lines).
      if (!nativeBindingPresent(c.package)) return `${c.package} not provisioned (no native binding; ${PROVISION_SCRIPTS[c.name]} builds it)`;
      nativeThreadEnv();
      await import(c.package); // native packages register on import
    }
  } catch (err) {
    return `${c.package} not loadable (${(err as Error).message.split('\n')[0]})`;
  } finally {
    // Importing a native package (even one whose binding then fails) loads `@tensorflow/tfjs`, which
    // replaces the project's gradients with its own: put ours back.
    if (c.name === 'tensorflow' || c.name === 'tensorflow-gpu') reinstallProjectGradients();
  }
  if (tf.findBackendFactory(c.tfName) === null) {
    return `${c.package} loaded but registered '${c.tfName}' with another tfjs-core copy`;
  }
  try {
    const ok = await tf.setBackend(c.tfName);
    if (!ok) return `${c.package}: backend '${c.tfName}' failed to initialise`;
    await tf.ready();
  } catch (err) {
    return `${c.package}: ${(err as Error).message.split('\n')[0]}`;
  }
  return null;
}

/** TensorFlow's version and thread counts of a native backend that just started; nothing for WASM/CPU. */
function nativeDetails(c: Candidate): Partial<BackendInfo> {
  if (c.tfName !== 'tensorflow') return {};
  const binding = (tf.backend() as unknown as { binding?: { TF_Version?: string } }).binding;
  const { intra, inter } = nativeThreadEnv();
  return { tensorflowVersion: binding?.TF_Version, intraOpThreads: intra, interOpThreads: inter };
}

async function selectBackend(order: readonly BackendName[]): Promise<BackendInfo> {
  const failures: string[] = [];
  for (const name of order) {
    const c = CANDIDATES.find((x) => x.name === name)!;
    // RLHF_NATIVE=0 is the same switch that makes scripts/native/provision-tensorflow.sh skip the build.
    const failure = c.tfName === 'tensorflow' && process.env.RLHF_NATIVE === '0' ? `${c.package} skipped (RLHF_NATIVE=0)` : await tryCandidate(c);
    if (failure === null) {
      const info: BackendInfo = { name, package: c.package, ...nativeDetails(c) };
      return failures.length === 0 ? info : { ...info, reason: failures.join('; ') };
    }
    failures.push(failure);
  }
  throw new BackendError(`no TensorFlow.js backend could start: ${failures.join('; ')}`, failures);
}

let chosen: Promise<BackendInfo> | null = null;

/**
 * Picks and activates the fastest available backend. Idempotent: later calls return the first
 * call's result (options are ignored then) and do not log again.
 */
export function initBackend(opts: InitBackendOptions = {}): Promise<BackendInfo> {
  if (chosen !== null) return chosen;
  const log = opts.log ?? ((msg: string) => console.info(msg));
  let order: BackendName[];
  try {
    order = backendOrder(opts.prefer ?? process.env.RLHF_BACKEND);
  } catch (err) {
    return Promise.reject(err);
  }
  const attempt = selectBackend(order).then((info) => {
    log(`[ml] TensorFlow.js backend: ${backendStatus(info)}` + (info.reason ? `; skipped: ${info.reason}` : ''));
    return info;
  });
  // A failed attempt is not cached, so a caller may retry (e.g. after fixing RLHF_BACKEND).
  chosen = attempt.catch((err: unknown) => {
    chosen = null;
    throw err;
  });
  return chosen;
}
