/**
 * What the activities record on a run's event stream (common/run-events.ts, served by
 * GET /api/runs/:runId/events) and per-update history. Every record carries a dedup key, so an
 * activity retried after a crash records nothing twice. A record that fails (Postgres down)
 * fails the activity, which Temporal retries: the stream never silently skips an event.
 */
import type { MikroORM } from '@mikro-orm/postgresql';
import type { RunPhase, UpdateMetrics } from '../common/names';
import { RunEventKinds, type RunEventData, type UpdateSample } from '../common/run-events';
import { RunEventRepository } from '../db/repositories/run-event-repository';
import type { CheckpointInfo, CheckpointRecovery } from '../contract/run-contract';

/** Where activities record run events; the worker wires `runEventLog(orm)`. */
export interface RunEventSink {
  phase(runId: string, phase: RunPhase): Promise<void>;
  rewardModel(runId: string, data: RunEventData['reward_model']): Promise<void>;
  update(runId: string, update: { update: number; total: number; metrics: UpdateMetrics; samples: UpdateSample[] }): Promise<void>;
  checkpoint(runId: string, checkpoint: CheckpointInfo): Promise<void>;
  recoveries(runId: string, recoveries: readonly CheckpointRecovery[]): Promise<void>;
  /** A guardrail trip and its rollback (once per trip number). */
  guardrail(runId: string, event: RunEventData['guardrail']): Promise<void>;
  /** The run's before/after evaluation block (once per run). */
  evaluation(runId: string, data: RunEventData['evaluation']): Promise<void>;
}

/** Records on the database of `orm`, one unit of work per record. */
export function runEventLog(orm: MikroORM): RunEventSink {
  const repo = () => new RunEventRepository(orm.em.fork());
  return {
    async phase(runId, phase) {
      await repo().append(runId, { kind: RunEventKinds.phase, data: { phase }, dedupKey: `phase:${phase}` });
    },
    async rewardModel(runId, data) {
      await repo().append(runId, { kind: RunEventKinds.rewardModel, data, dedupKey: RunEventKinds.rewardModel });
    },
    async update(runId, u) {
      const { update, metrics, samples } = u;
      await repo().append(runId, { kind: RunEventKinds.update, data: u, dedupKey: `update:${update}` }, { update, metrics, samples });
    },
    async checkpoint(runId, c) {
      await repo().append(runId, { kind: RunEventKinds.checkpoint, data: { update: c.update, ref: c.ref }, dedupKey: `checkpoint:${c.update}` });
    },
    async guardrail(runId, event) {
      await repo().append(runId, { kind: RunEventKinds.guardrail, data: event, dedupKey: `guardrail:${event.trip}` });
    },
    async evaluation(runId, data) {
      await repo().append(runId, { kind: RunEventKinds.evaluation, data, dedupKey: RunEventKinds.evaluation });
    },
    async recoveries(runId, recoveries) {
      for (const r of recoveries) {
        await repo().append(runId, { kind: RunEventKinds.recovery, data: r, dedupKey: `recovery:${r.rejectedUpdate}:${r.resumedFromUpdate}` });
      }
    },
  };
}

/** For activities run without a database (unit tests of the training maths): records nothing. */
export const NO_RUN_EVENTS: RunEventSink = {
  phase: async () => undefined,
  rewardModel: async () => undefined,
  update: async () => undefined,
  checkpoint: async () => undefined,
  recoveries: async () => undefined,
  guardrail: async () => undefined,
  evaluation: async () => undefined,
};
