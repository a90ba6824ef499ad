/**
 * Where the PPO update spends its time (the workload of bench/throughput.ts, `small` preset):
 * runs `--updates` updates under the V8 sampling profiler and prints the functions with the most
 * self time, grouped by source file, plus the same grouping per tfjs kernel. Used to find the
 * hot spot behind the PyTorch gap (bench/RESULTS.md, section 4).
 *   npx tsx bench/profile-ppo.ts [--updates 3]
 */
import { Session, type Profiler } from 'node:inspector';
import { parseArgs } from 'node:util';
import { initBackend } from '../ml/backend';
import { GptModel } from '../ml/model';
import { Rng } from '../ml/rng';
import { tf } from '../ml/tf';
import { makeUpdateBatch, ppoUpdater, presetSpec } from './lib/workload';

const SEED = 4242;

function post<T>(session: Session, method: string, params?: object): Promise<T> {
  return new Promise((resolve, reject) => session.post(method, params, (err, res) => (err ? reject(err) : resolve(res as T))));
}

/** Self time per (function, file), in ms, from a V8 CPU profile. */
function selfTimes(profile: Profiler.Profile): Map<string, number> {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const counts = new Map<number, number>();
  for (const s of profile.samples ?? []) counts.set(s, (counts.get(s) ?? 0) + 1);
  const dt = (profile.endTime - profile.startTime) / 1000 / Math.max(1, profile.samples?.length ?? 1); // ms per sample
  const out = new Map<string, number>();
  for (const [id, n] of counts) {
    const f = byId.get(id)!.callFrame;
    const file = f.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/work\/main\//, '');
    const key = `${f.functionName || '(anonymous)'}  ${file}:${f.lineNumber + 1}`;
    out.set(key, (out.get(key) ?? 0) + n * dt);
  }
  return out;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { updates: { type: 'string', default: '3' } } });
  const backend = await initBackend({ log: () => undefined });
  const spec = presetSpec('small', SEED);
  const rng = new Rng(SEED);
  const t = spec.workload.promptLength + spec.workload.newTokens;
  const policy = GptModel.create(spec.model, rng);
  const batch = makeUpdateBatch(policy, spec, spec.workload.promptLength, t, rng);
  const updater = ppoUpdater(policy, spec, rng);
  await updater.update(batch); // warm-up
  // Kernel-level timing from tfjs itself: which ops the time goes to.
  const kernelMs = new Map<string, number>();
  const prof = await tf.profile(async () => {
    await updater.update(batch);
  });
  for (const k of prof.kernels) kernelMs.set(k.name, (kernelMs.get(k.name) ?? 0) + (typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0));
  const session = new Session();
  session.connect();
  await post(session, 'Profiler.enable');
  await post(session, 'Profiler.start');
  let seconds = 0;
  for (let i = 0; i < Number(values.updates); i++) seconds += await updater.update(batch);
  const { profile } = await post<{ profile: Profiler.Profile }>(session, 'Profiler.stop');
  session.disconnect();
  updater.dispose();
  tf.dispose(Object.values(batch));
  policy.dispose();

  const total = [...kernelMs.values()].reduce((a, b) => a + b, 0);
  console.log(`backend ${backend.name}; ${values.updates} updates, ${(seconds / Number(values.updates)).toFixed(2)} s each`);
  console.log(`\ntfjs kernels by time (one update, tf.profile; ${total.toFixed(0)} ms of kernel time):`);
  for (const [name, ms] of [...kernelMs].sort((a, b) => b[1] - a[1]).slice(0, 12)) console.log(`  ${(100 * ms / total).toFixed(1).padStart(5)} %  ${ms.toFixed(0).padStart(6)} ms  ${name}`);
  const self = selfTimes(profile);
  const cpuTotal = [...self.values()].reduce((a, b) => a + b, 0);
  console.log(`\nV8 self time (${cpuTotal.toFixed(0)} ms sampled):`);
  for (const [key, ms] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`  ${(100 * ms / cpuTotal).toFixed(1).padStart(5)} %  ${key}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
