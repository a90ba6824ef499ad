/**
 * Runs the PyTorch reference (bench/reference/*.py) and reads its JSON answer.
 * Interpreter: $BENCH_PYTHON, else the first of .cache/bench-venv and .cache/hf-venv whose
 * python imports torch (bench/reference/requirements.txt pins what they need).
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '..', '..');
export const REFERENCE_DIR = path.join(ROOT, 'bench', 'reference');
const CANDIDATE_VENVS = ['.cache/bench-venv', '.cache/hf-venv'];

function canImport(python: string, module: string): boolean {
  try {
    execFileSync(python, ['-c', `import ${module}`], { stdio: 'ignore', timeout: 60_000 });
    return true;
  } catch {
    return false;
  }
}

/** A Python interpreter that can import `module`; throws naming how to provide one. */
export function findPython(module: string): string {
  const fromEnv = process.env.BENCH_PYTHON;
  const candidates = fromEnv ? [fromEnv] : CANDIDATE_VENVS.map((v) => path.join(ROOT, v, 'bin', 'python'));
  for (const python of candidates) if (existsSync(python) && canImport(python, module)) return python;
  throw new Error(
    `no Python with '${module}' among ${candidates.join(', ')}; create one with ` +
      `python3 -m venv .cache/bench-venv && .cache/bench-venv/bin/pip install -r bench/reference/requirements.txt, or set BENCH_PYTHON`,
  );
}

/** Runs `script` (in bench/reference/) with `args`, returns its stdout parsed as JSON. */
export function runPythonJson<T>(script: string, args: string[], module = 'torch', timeoutMs = 20 * 60_000): Promise<T> {
  const python = findPython(module);
  return new Promise((resolve, reject) => {
    execFile(python, [script, ...args], { cwd: REFERENCE_DIR, timeout: timeoutMs, maxBuffer: 64 * 2 ** 20 }, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`${script} failed: ${err.message}\n${stderr.slice(-2000)}`));
        return;
      }
      try {
        resolve(JSON.parse(stdout) as T);
      } catch (parseErr) {
        reject(new Error(`${script} printed no JSON (${(parseErr as Error).message}): ${stdout.slice(-500)}`));
      }
    });
  });
}
