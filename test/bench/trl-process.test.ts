/**
 * bench/trl-process.ts, the client of trl_ppo.py's line protocol, against stand-in servers
 * written in JavaScript and run by this Node binary (so no Python or TRL is needed): answers come
 * back in request order, and a server that dies or never starts rejects with its stderr.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { presetSpec } from '../../bench/lib/workload';
import { TrlProcess } from '../../bench/trl-process';

const spec = presetSpec('quick', 1);
let dir: string;

/** A stand-in for trl_ppo.py: `onLine(op, n)` is the body answering the n-th request. */
function server(name: string, onLine: string): string {
  const file = path.join(dir, name);
  writeFileSync(
    file,
    [
      "const spec = JSON.parse(process.argv[2]);",
      "const say = (o) => process.stdout.write(JSON.stringify(o) + '\\n');",
      "say({ versions: { trl: 'fake' }, threads: spec.threads, vocabSize: spec.model.vocabSize, trainableParams: 7 });",
      'let n = 0;',
      "require('node:readline').createInterface({ input: process.stdin }).on('line', (line) => {",
      '  const op = JSON.parse(line).op;',
      '  n += 1;',
      `  ${onLine}`,
      '});',
    ].join('\n'),
  );
  return file;
}

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'trl-process-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test('answers come back in request order, with the start-up description', async () => {
  const script = server('echo.js', "say(op === 'step' ? { wall: n, cpu: n / 2, phases: { optimize_step: n / 4 } } : { wall: n, cpu: n / 2 });");
  const { trl, info } = await TrlProcess.start(process.execPath, spec, 3, script);
  try {
    expect(info).toEqual({ versions: { trl: 'fake' }, threads: 3, vocabSize: spec.model.vocabSize, trainableParams: 7 });
    // Three requests in flight at once: each must get its own answer, in order.
    expect(await Promise.all([trl.rollout(), trl.step(), trl.rollout()])).toEqual([
      { wall: 1, cpu: 0.5 },
      { wall: 2, cpu: 1, phases: { optimize_step: 0.5 } },
      { wall: 3, cpu: 1.5 },
    ]);
  } finally {
    await trl.close();
  }
});

test('a server that dies rejects the pending request with its exit code and stderr', async () => {
  const script = server('dies.js', "if (op === 'step') { process.stderr.write('RuntimeError: boom'); process.exit(3); } say({ wall: n, cpu: n });");
  const { trl } = await TrlProcess.start(process.execPath, spec, 1, script);
  await expect(trl.rollout()).resolves.toEqual({ wall: 1, cpu: 1 });
  await expect(trl.step()).rejects.toThrow(/code 3[\s\S]*RuntimeError: boom/);
  await expect(trl.rollout()).rejects.toThrow(/code 3/);
  await trl.close();
});

test('an interpreter that cannot run rejects the start', async () => {
  await expect(TrlProcess.start(path.join(dir, 'no-such-python'), spec, 1)).rejects.toThrow(/could not run/);
});
