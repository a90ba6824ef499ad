/**
 * Which project an agent belongs to. Agent ids are one global namespace (they name artifact
 * directories, run and version sequences), so the first project to post feedback for an id
 * owns it; every other project gets 404 for it.
 */
import { EntitySchema, type Opt } from '@mikro-orm/core';

export interface Agent {
  /** The agentId of the routes (SAFE_ID_PATTERN). */
  id: string;
  projectId: string;
  createdAt: Date & Opt;
}

export const AgentSchema = new EntitySchema<Agent>({
  name: 'Agent',
  tableName: 'agent',
  properties: {
    id: { type: 'string', length: 64, primary: true },
    projectId: { kind: 'm:1', entity: 'Project', mapToPk: true, fieldName: 'project_id', index: 'agent_project_id_index' },
    createdAt: { type: 'datetime', length: 6, onCreate: () => new Date() },
  },
});
