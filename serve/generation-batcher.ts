/**
 * Batches generate requests (issue 13). One batch runs at a time (the TensorFlow backend is one
 * compute resource); while it runs, new requests queue, and the next batch takes the oldest
 * request together with every queued request it can share a forward pass with: same loaded
 * policy and same sampling settings, up to `maxBatchRows` rows. At low load a request therefore
 * waits for no timer, and under load requests ride together (continuous batching in its
 * simplest, request-level form). Decoding uses the KV cache (ml/sampling) and yields to the
 * event loop after every model pass, so the server keeps accepting requests meanwhile.
 *
 * A request with a `seed` runs in a batch of its own, from `new Rng(seed)`: its draws and its
 * floating-point path do not depend on what else was queued, so one seed gives one answer.
 * Unseeded requests draw from the process's own stream.
 */
import type { GenerationConfig } from '../spec/run-config';
import type { LoadedPolicy } from '../ml/policy-export';
import { Rng } from '../ml/rng';
import { generateYielding } from '../ml/sampling';

export interface SamplingSettings extends GenerationConfig {
  minNewTokens: number;
}

export interface GenerationJob {
  policy: LoadedPolicy;
  /** Prompt ids, BOS first (ml/dataset encodePrompt). */
  promptIds: number[];
  /** Completions wanted: n rows of the batch. */
  n: number;
  sampling: SamplingSettings;
  seed: number | null;
}

export interface GeneratedRow {
  /** Response ids, EOS included when emitted. */
  ids: number[];
  endedWithEos: boolean;
}

interface Queued {
  job: GenerationJob;
  key: string;
  resolve: (rows: GeneratedRow[]) => void;
  reject: (err: unknown) => void;
}

export interface BatcherStats {
  batches: number;
  rows: number;
  queued: number;
}

export class GenerationBatcher {
  private readonly queue: Queued[] = [];
  private running = false;
  private batches = 0;
  private rows = 0;
  private readonly policyIds = new WeakMap<LoadedPolicy, number>();
  private nextPolicyId = 0;
  private seededJobs = 0;

  constructor(
    private readonly maxBatchRows: number,
    private readonly rng: Rng,
  ) {}

  submit(job: GenerationJob): Promise<GeneratedRow[]> {
    return new Promise((resolve, reject) => {
      this.queue.push({ job, key: this.keyOf(job), resolve, reject });
      void this.pump();
    });
  }

  stats(): BatcherStats {
    return { batches: this.batches, rows: this.rows, queued: this.queue.length };
  }

  /** Requests that may share a batch; a seeded request shares with none. */
  private keyOf(job: GenerationJob): string {
    let id = this.policyIds.get(job.policy);
    if (id === undefined) {
      id = this.nextPolicyId++;
      this.policyIds.set(job.policy, id);
    }
    const s = job.sampling;
    return job.seed !== null ? `seeded:${this.seededJobs++}` : JSON.stringify([id, s.maxNewTokens, s.minNewTokens, s.temperature, s.topK, s.topP]);
  }

  private takeBatch(): Queued[] {
    const first = this.queue.shift() as Queued;
    const batch = [first];
    let rows = first.job.n;
    for (let i = 0; i < this.queue.length && rows < this.maxBatchRows; ) {
      const q = this.queue[i];
      if (q.key === first.key && rows + q.job.n <= this.maxBatchRows) {
        batch.push(q);
        rows += q.job.n;
        this.queue.splice(i, 1);
      } else {
        i++;
      }
    }
    return batch;
  }

  private async pump(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.takeBatch();
        try {
          const results = await this.run(batch.map((q) => q.job));
          batch.forEach((q, i) => q.resolve(results[i]));
        } catch (err) {
          for (const q of batch) q.reject(err);
        }
      }
    } finally {
      this.running = false;
    }
  }

  private async run(jobs: GenerationJob[]): Promise<GeneratedRow[][]> {
    const { policy, sampling, seed } = jobs[0];
    const prompts = jobs.flatMap((j) => Array.from({ length: j.n }, () => j.promptIds));
    const rng = seed !== null ? new Rng(seed) : this.rng;
    const { responses, endedWithEos } = await generateYielding(
      policy.policy,
      prompts,
      // A saved policy has LoRA merged into its base weights and B = 0 (ml/policy-export.ts
      // savePolicy), so the adapter path adds exact zeros: skipping it gives the same tokens
      // and saves 8 of ~12 kernels per projection (a quarter of a decode step's time; the exactness
      // is asserted in test/ml/policy-export.test.ts, "adapters off gives the same policy").
      { ...sampling, eosId: policy.tokenizer.eosId, padId: policy.tokenizer.padId, adapters: false },
      rng,
    );
    this.batches++;
    this.rows += prompts.length;
    let row = 0;
    return jobs.map((j) =>
      Array.from({ length: j.n }, () => {
        const r = row++;
        return { ids: responses[r], endedWithEos: endedWithEos[r] };
      }),
    );
  }
}
