/**
 * The per-update PPO history of a run, in Postgres so that the API (which loads no
 * TensorFlow.js and may run on another machine than the worker) can serve it: each update's
 * metrics (the same values as the artifact store's per-update JSON, written by the PPO chunk
 * right after it) and a few sampled completions. A redone update (resume after a crash) writes
 * the same row again; resumes are bit-exact, so the values do not change.
 */
import { EntitySchema, type Opt } from '@mikro-orm/core';
import type { UpdateSample } from '../../common/run-events';

export interface RunUpdateRow {
  runId: string;
  /** 1-based PPO update number. */
  update: number;
  metrics: Record<string, number>;
  samples: UpdateSample[];
  createdAt: Date & Opt;
}

export const RunUpdateSchema = new EntitySchema<RunUpdateRow>({
  name: 'RunUpdate',
  tableName: 'run_update',
  properties: {
    runId: { kind: 'm:1', entity: 'TrainingRun', mapToPk: true, fieldName: 'run_id', primary: true, deleteRule: 'cascade' },
    update: { type: 'integer', primary: true },
    metrics: { type: 'json' },
    samples: { type: 'json' },
    createdAt: { type: 'datetime', length: 6, onCreate: () => new Date() },
  },
});
