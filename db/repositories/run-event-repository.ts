/**
 * A run's event stream and per-update history (run_event, run_update). Appends take the run
 * row's lock (`select … for update`) to allocate the next seq, so two writers (the GPU worker's
 * PPO chunk, the CPU worker's status change) serialise and events commit in seq order: when a
 * reader sees seq N, every smaller seq is already visible. Unknown runs record nothing (an
 * activity run outside the API, as in the activity tests, has no stream to feed).
 */
import { storableJson } from '../../common/storable-json';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { RunEventData, RunEventKind, UpdateSample } from '../../common/run-events';
import { RunEventKinds } from '../../common/run-events';

export interface NewRunEvent<K extends RunEventKind = RunEventKind> {
  kind: K;
  data: RunEventData[K];
  /** Recorded once per run: a second append with the same key is skipped. */
  dedupKey?: string;
}

/** The history row written together with an `update` event. */
export interface NewRunUpdate {
  update: number;
  metrics: Record<string, number>;
  samples: UpdateSample[];
}

export interface StoredRunEvent {
  seq: number;
  kind: RunEventKind;
  data: Record<string, unknown>;
  createdAt: Date;
}

export interface StoredRunUpdate extends NewRunUpdate {
  createdAt: Date;
}

interface EventRow {
  seq: number;
  kind: RunEventKind;
  data: Record<string, unknown> | string;
  created_at: Date | string;
}

interface UpdateRow {
  update: number;
  metrics: Record<string, number> | string;
  samples: UpdateSample[] | string;
  created_at: Date | string;
}

const json = <T>(v: T | string): T => (typeof v === 'string' ? (JSON.parse(v) as T) : v);

export class RunEventRepository {
  constructor(private readonly em: EntityManager) {}

  /**
   * Appends the event (and, for an update, its history row) in one transaction; returns its
   * seq, or null when nothing was appended: the run is unknown, the dedup key is taken, or it
   * is a status event repeating the run's current status (a retried setRunStatus).
   */
  async append<K extends RunEventKind>(runId: string, event: NewRunEvent<K>, update?: NewRunUpdate): Promise<number | null> {
    return this.em.transactional(async (tx) => {
      const [run] = await tx.execute<{ event_seq: number }[]>('select event_seq from training_run where id = ? for update', [runId]);
      if (!run) return null;
      if (update) {
        await tx.execute(
          'insert into run_update (run_id, update, metrics, samples, created_at) values (?, ?, ?::jsonb, ?::jsonb, now()) ' +
            'on conflict (run_id, update) do update set metrics = excluded.metrics, samples = excluded.samples',
          [runId, update.update, JSON.stringify(update.metrics), JSON.stringify(storableJson(update.samples))],
        );
      }
      if (event.dedupKey !== undefined) {
        const [taken] = await tx.execute('select 1 from run_event where run_id = ? and dedup_key = ?', [runId, event.dedupKey]);
        if (taken) return null;
      }
      if (event.kind === RunEventKinds.status && (await this.lastStatusIn(tx, runId)) === (event.data as RunEventData['status']).status) return null;
      const seq = run.event_seq + 1;
      await tx.execute('update training_run set event_seq = ? where id = ?', [seq, runId]);
      await tx.execute('insert into run_event (run_id, seq, kind, dedup_key, data, created_at) values (?, ?, ?, ?, ?::jsonb, now())', [
        runId,
        seq,
        event.kind,
        event.dedupKey ?? null,
        // Sampled text (updates, evaluation pairs) can hold NUL, which jsonb refuses.
        JSON.stringify(storableJson(event.data)),
      ]);
      return seq;
    });
  }

  private async lastStatusIn(tx: EntityManager, runId: string): Promise<string | null> {
    const [row] = await tx.execute<{ status: string }[]>(
      "select data->>'status' as status from run_event where run_id = ? and kind = ? order by seq desc limit 1",
      [runId, RunEventKinds.status],
    );
    return row?.status ?? null;
  }

  /** Events with seq > `afterSeq`, oldest first, at most `limit`. */
  async after(runId: string, afterSeq: number, limit: number): Promise<StoredRunEvent[]> {
    const rows = await this.em.execute<EventRow[]>(
      'select seq, kind, data, created_at from run_event where run_id = ? and seq > ? order by seq limit ?',
      [runId, afterSeq, limit],
    );
    return rows.map((r) => ({ seq: Number(r.seq), kind: r.kind, data: json(r.data), createdAt: new Date(r.created_at) }));
  }

  /** History rows with update ≥ `from`, in update order, at most `limit`. */
  async updates(runId: string, from: number, limit: number): Promise<StoredRunUpdate[]> {
    const rows = await this.em.execute<UpdateRow[]>(
      'select update, metrics, samples, created_at from run_update where run_id = ? and update >= ? order by update limit ?',
      [runId, from, limit],
    );
    return rows.map(toUpdate);
  }

  /** The newest `n` history rows, newest first (progress: the latest update and recent speed). */
  async latest(runId: string, n: number): Promise<StoredRunUpdate[]> {
    const rows = await this.em.execute<UpdateRow[]>(
      'select update, metrics, samples, created_at from run_update where run_id = ? order by update desc limit ?',
      [runId, n],
    );
    return rows.map(toUpdate);
  }
}

function toUpdate(r: UpdateRow): StoredRunUpdate {
  return { update: Number(r.update), metrics: json(r.metrics), samples: json(r.samples), createdAt: new Date(r.created_at) };
}
