/**
 * A running bench/reference/trl_ppo.py (TRL 0.7.11's PPOTrainer) that bench/trl-compare.ts asks
 * for one timed call at a time, so TRL's samples can be interleaved with ml/'s. Protocol (see the
 * script's docstring): one JSON line describing the trainer once it is built, then one JSON line
 * answering each `{"op": ...}` line written to its stdin; it exits when stdin closes.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { REFERENCE_DIR } from './lib/python';
import type { WorkloadSpec } from './lib/workload';

/** Wall-clock and process-CPU seconds of one call. */
export interface WallCpu {
  wall: number;
  cpu: number;
}

export const TRL_PHASES = ['forward_pass', 'compute_rewards', 'compute_advantages', 'optimize_step', 'calc_stats', 'total'] as const;
export type TrlPhase = (typeof TRL_PHASES)[number];

export interface TrlStepSample extends WallCpu {
  /** TRL's own time/ppo/* of this step (wall-clock). */
  phases: Record<TrlPhase, number>;
}

export interface TrlInfo {
  versions: Record<'trl' | 'transformers' | 'peft' | 'torch' | 'numpy', string>;
  threads: number;
  vocabSize: number;
  trainableParams: number;
}

const STDERR_KEPT = 4000;
const TRL_SCRIPT = path.join(REFERENCE_DIR, 'trl_ppo.py');

export class TrlProcess {
  private readonly pending: { resolve: (line: string) => void; reject: (err: Error) => void }[] = [];
  private stderrTail = '';
  private exited: Error | null = null;

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    child.stderr.on('data', (chunk: Buffer) => {
      this.stderrTail = (this.stderrTail + chunk.toString()).slice(-STDERR_KEPT);
    });
    createInterface({ input: child.stdout }).on('line', (line) => this.pending.shift()?.resolve(line));
    // 'close', not 'exit': it comes after stdout and stderr are drained, so the tail is complete.
    child.on('close', (code, signal) => this.fail(`trl_ppo.py exited (${signal ?? `code ${code}`})`));
    child.on('error', (err) => this.fail(`trl_ppo.py could not run: ${err.message}`));
  }

  private fail(why: string): void {
    this.exited ??= new Error(`${why}:\n${this.stderrTail}`);
    for (const p of this.pending.splice(0)) p.reject(this.exited);
  }

  /**
   * Starts `script` (trl_ppo.py unless a test gives another speaker of the protocol) under `python`
   * for `spec` with `threads` torch threads (0 = torch's default) and waits until its trainer is built.
   */
  static async start(python: string, spec: WorkloadSpec, threads: number, script = TRL_SCRIPT): Promise<{ trl: TrlProcess; info: TrlInfo }> {
    const child = spawn(python, [script, JSON.stringify({ ...spec, threads })], { cwd: REFERENCE_DIR });
    const trl = new TrlProcess(child);
    const info = JSON.parse(await trl.nextLine()) as TrlInfo;
    return { trl, info };
  }

  rollout(): Promise<WallCpu> {
    return this.request('rollout');
  }

  step(): Promise<TrlStepSample> {
    return this.request('step');
  }

  /** Closes stdin (the script's loop ends) and waits for the exit. */
  async close(): Promise<void> {
    if (this.exited) return;
    const exit = new Promise<void>((resolve) => this.child.once('close', () => resolve()));
    this.child.stdin.end();
    await exit;
  }

  private async request<T>(op: 'rollout' | 'step'): Promise<T> {
    const line = this.nextLine();
    this.child.stdin.write(`${JSON.stringify({ op })}\n`);
    return JSON.parse(await line) as T;
  }

  private nextLine(): Promise<string> {
    if (this.exited) return Promise.reject(this.exited);
    return new Promise((resolve, reject) => this.pending.push({ resolve, reject }));
  }
}
