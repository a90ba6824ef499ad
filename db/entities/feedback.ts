/**
 * One human judgement of an agent's response: the seed's Feedback table
 * (id, project_id, agent_id, run_id, prompt, response, score, notes, created_at).
 */
import { BigIntType, EntitySchema, type Opt } from '@mikro-orm/core';

export interface Feedback {
  /** bigserial, read as a decimal string (exact, JSON-safe). Also the paging key. */
  id: string;
  projectId: string | null;
  agentId: string;
  /** The agent-runtime run that produced the response (not a TrainingRun). */
  runId: string;
  prompt: string;
  response: string;
  score: number;
  notes: string | null;
  createdAt: Date & Opt;
}

export const FeedbackSchema = new EntitySchema<Feedback>({
  name: 'Feedback',
  tableName: 'feedback',
  properties: {
    // 'string' mode: JSON-safe and exact beyond 2^53.
    id: { type: new BigIntType('string'), primary: true, autoincrement: true },
    projectId: { type: 'string', length: 64, nullable: true },
    agentId: { type: 'string', length: 64 },
    runId: { type: 'string', length: 64 },
    prompt: { type: 'text' },
    response: { type: 'text' },
    score: { type: 'double' },
    notes: { type: 'text', nullable: true },
    createdAt: { type: 'datetime', length: 6, onCreate: () => new Date() },
  },
  // Every read is per agent in id order (paging, training export).
  indexes: [{ name: 'feedback_agent_id_id_index', properties: ['agentId', 'id'] }],
});
