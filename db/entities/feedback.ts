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
  /**
   * The policy version that wrote the response (e.g. "v3"), when known: from the serving
   * request named by `requestId`, or as the client stated it. The A/B report groups by it.
   */
  policyVersion: string | null;
  /** The serving request (GenerationRequest.id) whose response this row rates. */
  requestId: string | null;
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
    policyVersion: { type: 'string', length: 32, nullable: true },
    requestId: { type: 'uuid', nullable: true },
    createdAt: { type: 'datetime', length: 6, onCreate: () => new Date() },
  },
  // Every read is per agent in id order (paging, training export).
  // The A/B report reads one agent's attributed rows by version.
  indexes: [
    { name: 'feedback_agent_id_id_index', properties: ['agentId', 'id'] },
    { name: 'feedback_agent_id_policy_version_index', properties: ['agentId', 'policyVersion'] },
  ],
});
