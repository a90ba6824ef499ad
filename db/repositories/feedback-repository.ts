/** Feedback rows: writes (single and all-or-nothing batch), keyset paging, and the training export. */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { EntityManager, Knex } from '@mikro-orm/postgresql';
import type { ClientBase } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { FeedbackSchema, type Feedback } from '../entities';
import { InvalidCursorError } from '../errors';

export interface NewFeedback {
  agentId: string;
  runId: string;
  prompt: string;
  response: string;
  score: number;
  notes?: string | null;
  projectId?: string | null;
  /** Attribution (issue 13): checked by the caller (api/attribution.ts) before the write. */
  policyVersion?: string | null;
  requestId?: string | null;
}

export interface FeedbackPage {
  items: Feedback[];
  /** The last row's id; pass back unchanged for the next page. Null on the last page. */
  nextCursor: string | null;
}

export interface ScoreStats {
  count: number;
  /** Null when the agent has no feedback. */
  mean: number | null;
  /** Population standard deviation (numpy's np.std default, as the seed computed it). */
  std: number | null;
  min: number | null;
  max: number | null;
}

/** Scores of one agent's rows attributed to one policy version (the A/B report's input). */
export interface VersionScoreStats {
  version: string;
  count: number;
  mean: number;
  /** Sample variance (n − 1); null for a single row. */
  variance: number | null;
}

export interface TrainingRow {
  prompt: string;
  response: string;
  score: number;
}

/**
 * Cursor format (documented in the OpenAPI document): the decimal id of the previous page's last
 * row. Every such value is a valid position ("rows of this agent after id N"), so a
 * schema-valid cursor is never refused; the page is filtered by agent, so a cursor taken from
 * another agent's page reveals nothing.
 */
export const FEEDBACK_CURSOR_PATTERN = '^[0-9]{1,18}$';
const CURSOR_RE = new RegExp(FEEDBACK_CURSOR_PATTERN);

function decodeCursor(cursor: string): string {
  if (!CURSOR_RE.test(cursor)) throw new InvalidCursorError(cursor);
  return cursor;
}

/** Columns a COPY row fills, in order (the id is the bigserial's). */
const COPY_SQL = 'copy feedback (project_id, agent_id, run_id, prompt, response, score, notes, policy_version, request_id, created_at) from stdin';
/** COPY text format escapes (https://www.postgresql.org/docs/current/sql-copy.html, "Text Format"). */
const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };
const COPY_SPECIAL = /[\\\n\r\t]/g;
const COPY_NULL = '\\N';

function copyField(value: string | null | undefined): string {
  if (value === null || value === undefined) return COPY_NULL;
  COPY_SPECIAL.lastIndex = 0;
  return COPY_SPECIAL.test(value) ? value.replace(COPY_SPECIAL, (c) => COPY_ESCAPES[c]) : value;
}

/** One row in COPY text format. A JS number's shortest round-trip form is valid float8 input. */
function copyLine(row: NewFeedback, createdAt: string): string {
  const fields = [row.projectId, row.agentId, row.runId, row.prompt, row.response, String(row.score), row.notes, row.policyVersion, row.requestId, createdAt];
  return `${fields.map(copyField).join('\t')}\n`;
}

export class FeedbackRepository {
  constructor(private readonly em: EntityManager) {}

  /**
   * One row in one statement (`insert ... returning id`): committed on its own when the caller has
   * no transaction, where a unit-of-work flush would send BEGIN, INSERT and COMMIT (three round
   * trips; bench/RESULTS.md §7).
   */
  async insert(input: NewFeedback): Promise<Feedback> {
    const row = { ...toRow(input), createdAt: new Date() };
    const [{ id }] = await this.em.execute<{ id: string }[]>(
      'insert into feedback (project_id, agent_id, run_id, prompt, response, score, notes, policy_version, request_id, created_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) returning id::text as id',
      [row.projectId, row.agentId, row.runId, row.prompt, row.response, row.score, row.notes, row.policyVersion, row.requestId, row.createdAt],
    );
    return { id, ...row };
  }

  /** Inserts every row in one transaction: either all are written or none. */
  async insertMany(inputs: readonly NewFeedback[]): Promise<Feedback[]> {
    return this.em.transactional(async (tx) => {
      const rows = inputs.map((input) => tx.create(FeedbackSchema, toRow(input)));
      await tx.flush();
      return rows;
    });
  }

  /**
   * Appends the rows with one `COPY ... FROM STDIN` on the connection of the caller's
   * transaction (the import makes several of these in one transaction, so a failed or aborted
   * request keeps none of them). All rows get `createdAt`.
   */
  async copy(rows: readonly NewFeedback[], createdAt: Date): Promise<void> {
    if (rows.length === 0) return;
    const trx = this.em.getTransactionContext<Knex.Transaction>();
    if (!trx) throw new Error('FeedbackRepository.copy must run inside a transaction');
    // Inside a knex transaction acquireConnection hands back the transaction's own connection.
    const client = (await trx.client.acquireConnection()) as ClientBase;
    const at = createdAt.toISOString();
    const text = rows.map((row) => copyLine(row, at)).join('');
    await pipeline(Readable.from([Buffer.from(text, 'utf8')]), client.query(copyFrom(COPY_SQL)));
  }

  /**
   * Deletes an agent's rows: those named by `ids`, or created in [from, to), or all of them when
   * no filter is given (filters combine with AND). Returns how many rows went.
   */
  async deleteForAgent(agentId: string, filter: { ids?: readonly string[]; from?: Date; to?: Date } = {}): Promise<number> {
    const where = ['agent_id = ?'];
    const params: unknown[] = [agentId];
    if (filter.ids) {
      where.push('id = any(?::bigint[])');
      params.push(`{${filter.ids.join(',')}}`);
    }
    if (filter.from) {
      where.push('created_at >= ?');
      params.push(filter.from.toISOString());
    }
    if (filter.to) {
      where.push('created_at < ?');
      params.push(filter.to.toISOString());
    }
    const res = await this.em.getConnection().execute<{ affectedRows: number }>(`delete from feedback where ${where.join(' and ')}`, params, 'run');
    return res.affectedRows;
  }

  /** Keyset page in insertion (id) order; `cursor` comes from a previous page's nextCursor. */
  async page(agentId: string, cursor: string | null, limit: number): Promise<FeedbackPage> {
    const afterId = cursor ? decodeCursor(cursor) : null;
    const rows = await this.em.find(
      FeedbackSchema,
      afterId ? { agentId, id: { $gt: afterId } } : { agentId },
      // One extra row tells whether another page exists without a count query.
      { orderBy: { id: 'asc' }, limit: limit + 1 },
    );
    const items = rows.slice(0, limit);
    const nextCursor = rows.length > limit ? items[items.length - 1].id : null;
    return { items, nextCursor };
  }

  /**
   * Every row of the agent after `cursor` (a nextCursor of `page`), in id order, one page of
   * `pageRows` at a time: the keyset query of `page`, read past the identity map, so memory holds
   * one page whatever the agent's size. Each page is its own query (no snapshot across pages,
   * like paging by hand): a row committed meanwhile with a higher id is included.
   */
  async *pages(agentId: string, cursor: string | null, pageRows: number): AsyncGenerator<Feedback[]> {
    let afterId = cursor ? decodeCursor(cursor) : '0';
    for (;;) {
      const rows = await this.em.getConnection().execute<ExportRow[]>(
        // created_at as ISO 8601 UTC at millisecond precision, as a JS Date gives it (the driver hands timestamps over as text).
        // `feedback.id`, not `id`: a bare `order by id` would sort by the text alias (wrong order, and a sort of every row).
        `select id::text as id, project_id, agent_id, run_id, prompt, response, score, notes, policy_version, request_id,
                to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as created_at
         from feedback where agent_id = ? and feedback.id > ? order by feedback.id limit ?`,
        [agentId, afterId, pageRows],
      );
      if (rows.length === 0) return;
      yield rows.map(fromExportRow);
      if (rows.length < pageRows) return;
      afterId = rows[rows.length - 1].id;
    }
  }

  /**
   * Refreshes the planner's statistics of the feedback table. Run after a bulk load (PostgreSQL
   * manual, "Populating a Database": run ANALYZE afterwards): until autovacuum gets to it, the
   * stale estimate of an agent's row count makes Postgres read and sort every remaining row of
   * the agent for each keyset page instead of walking the index (seen: 40 s instead of 3 s for
   * 100,000 rows). ANALYZE samples at most 30,000 rows, so it costs little whatever the size.
   */
  async analyze(): Promise<void> {
    await this.em.getConnection().execute('analyze feedback');
  }

  async count(agentId: string): Promise<number> {
    return this.em.count(FeedbackSchema, { agentId });
  }

  /** Over the agent's rows, or only those attributed to `versions` when given. */
  async scoreStats(agentId: string, versions?: readonly string[]): Promise<ScoreStats> {
    const [row] = await this.em.execute<
      { count: string; mean: number | null; std: number | null; min: number | null; max: number | null }[]
    >(
      // Aggregated in numeric: any finite double is a valid score, and double-precision sums of
      // squares overflow (Postgres raises 22003) once |score| passes about 1e154.
      `select count(*) as count, avg(score::numeric)::float8 as mean, stddev_pop(score::numeric)::float8 as std, min(score) as min, max(score) as max from feedback where agent_id = ?${versions ? ` and policy_version in (${versions.map(() => '?').join(', ')})` : ''}`,
      versions ? [agentId, ...versions] : [agentId],
    );
    return { count: Number(row.count), mean: row.mean, std: row.std, min: row.min, max: row.max };
  }

  /** Count, mean and sample variance of the agent's scores per attributed version, rows at or after `since` (all when null). */
  async scoreStatsByVersion(agentId: string, since: Date | null): Promise<VersionScoreStats[]> {
    const rows = await this.em.execute<{ version: string; count: string; mean: number; variance: number | null }[]>(
      // numeric aggregation, as scoreStats: any finite double is a valid score.
      `select policy_version as version, count(*) as count, avg(score::numeric)::float8 as mean, var_samp(score::numeric)::float8 as variance
       from feedback where agent_id = ? and policy_version is not null${since ? ' and created_at >= ?' : ''}
       group by policy_version order by policy_version`,
      since ? [agentId, since] : [agentId],
    );
    return rows.map((r) => ({ version: r.version, count: Number(r.count), mean: r.mean, variance: r.variance }));
  }

  /**
   * Every row of the agent (only those attributed to `versions`, when given) in a deterministic
   * (id) order, so a run's dataset split is reproducible.
   */
  async listForTraining(agentId: string, versions?: readonly string[]): Promise<TrainingRow[]> {
    const rows = await this.em.find(
      FeedbackSchema,
      versions ? { agentId, policyVersion: { $in: [...versions] } } : { agentId },
      { orderBy: { id: 'asc' }, fields: ['prompt', 'response', 'score'], disableIdentityMap: true },
    );
    return rows.map((r) => ({ prompt: r.prompt, response: r.response, score: r.score }));
  }
}

interface ExportRow {
  id: string;
  project_id: string | null;
  agent_id: string;
  run_id: string;
  prompt: string;
  response: string;
  score: number;
  notes: string | null;
  policy_version: string | null;
  request_id: string | null;
  created_at: string;
}

function fromExportRow(r: ExportRow): Feedback {
  return { id: r.id, projectId: r.project_id, agentId: r.agent_id, runId: r.run_id, prompt: r.prompt, response: r.response, score: r.score, notes: r.notes, policyVersion: r.policy_version, requestId: r.request_id, createdAt: new Date(r.created_at) };
}

function toRow(input: NewFeedback): Omit<Feedback, 'id' | 'createdAt'> {
  return {
    agentId: input.agentId,
    runId: input.runId,
    prompt: input.prompt,
    response: input.response,
    score: input.score,
    notes: input.notes ?? null,
    projectId: input.projectId ?? null,
    policyVersion: input.policyVersion ?? null,
    requestId: input.requestId ?? null,
  };
}
