/**
 * A run's event stream (common/run-events.ts), one row per event. `seq` is allocated from the
 * run's `training_run.event_seq` counter under that row's lock, in the transaction that inserts
 * the event, so events become visible in seq order and a reader resuming after seq N misses
 * nothing. `dedupKey` makes recording idempotent: an activity retried after a crash records the
 * same update, checkpoint or phase again, and the unique (run, key) keeps one copy.
 */
import { EntitySchema, type Opt } from '@mikro-orm/core';
import type { RunEventKind } from '../../common/run-events';

export interface RunEventRow {
  runId: string;
  seq: number;
  kind: RunEventKind;
  /** Null: the event is always appended (the repository may still skip a repeated status). */
  dedupKey: string | null;
  data: Record<string, unknown>;
  createdAt: Date & Opt;
}

export const RUN_EVENT_DEDUP_INDEX = 'run_event_run_id_dedup_key_unique';

export const RunEventSchema = new EntitySchema<RunEventRow>({
  name: 'RunEvent',
  tableName: 'run_event',
  properties: {
    runId: { kind: 'm:1', entity: 'TrainingRun', mapToPk: true, fieldName: 'run_id', primary: true, deleteRule: 'cascade' },
    seq: { type: 'integer', primary: true },
    // A string, not a DB enum: a new kind (common/run-events.ts) needs no migration.
    kind: { type: 'string', length: 32 },
    dedupKey: { type: 'string', length: 128, nullable: true },
    data: { type: 'json' },
    createdAt: { type: 'datetime', length: 6, onCreate: () => new Date() },
  },
  uniques: [{ name: RUN_EVENT_DEDUP_INDEX, properties: ['runId', 'dedupKey'] }],
});
