/**
 * One answered `generate` call of the serving process (serve/): which version of which agent
 * answered, for which project. Feedback that names the request's id is attributed to that
 * version (issue 13), after checking that the request exists, is this agent's and project's,
 * and is recent enough.
 */
import { EntitySchema, type Opt } from '@mikro-orm/core';

export interface GenerationRequest {
  /** Random UUID, returned to the client as `requestId`. */
  id: string;
  projectId: string;
  agentId: string;
  /** The version label that answered, e.g. "v3". */
  version: string;
  createdAt: Date & Opt;
}

export const GenerationRequestSchema = new EntitySchema<GenerationRequest>({
  name: 'GenerationRequest',
  tableName: 'generation_request',
  properties: {
    id: { type: 'uuid', primary: true },
    projectId: { type: 'string', length: 64 },
    agentId: { type: 'string', length: 64 },
    version: { type: 'string', length: 32 },
    createdAt: { type: 'datetime', length: 6, onCreate: () => new Date() },
  },
  // Retention sweeps by age.
  indexes: [{ name: 'generation_request_created_at_index', properties: ['createdAt'] }],
});
