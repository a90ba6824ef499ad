/** Feedback rows: writes (single and all-or-nothing batch), keyset paging, and the training export. */
import type { EntityManager } from '@mikro-orm/postgresql';
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

export class FeedbackRepository {
  constructor(private readonly em: EntityManager) {}

  async insert(input: NewFeedback): Promise<Feedback> {
    const row = this.em.create(FeedbackSchema, toRow(input));
    await this.em.flush();
    return row;
  }

  /** Inserts every row in one transaction: either all are written or none. */
  async insertMany(inputs: readonly NewFeedback[]): Promise<Feedback[]> {
    return this.em.transactional(async (tx) => {
      const rows = inputs.map((input) => tx.create(FeedbackSchema, toRow(input)));
      await tx.flush();
      return rows;
    });
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

  async count(agentId: string): Promise<number> {
    return this.em.count(FeedbackSchema, { agentId });
  }

  async scoreStats(agentId: string): Promise<ScoreStats> {
    const [row] = await this.em.execute<
      { count: string; mean: number | null; std: number | null; min: number | null; max: number | null }[]
    >(
      // Aggregated in numeric: any finite double is a valid score, and double-precision sums of
      // squares overflow (Postgres raises 22003) once |score| passes about 1e154.
      'select count(*) as count, avg(score::numeric)::float8 as mean, stddev_pop(score::numeric)::float8 as std, min(score) as min, max(score) as max from feedback where agent_id = ?',
      [agentId],
    );
    return { count: Number(row.count), mean: row.mean, std: row.std, min: row.min, max: row.max };
  }

  /** Every row of the agent in a deterministic (id) order, so a run's dataset split is reproducible. */
  async listForTraining(agentId: string): Promise<TrainingRow[]> {
    const rows = await this.em.find(
      FeedbackSchema,
      { agentId },
      { orderBy: { id: 'asc' }, fields: ['prompt', 'response', 'score'], disableIdentityMap: true },
    );
    return rows.map((r) => ({ prompt: r.prompt, response: r.response, score: r.score }));
  }
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
  };
}
