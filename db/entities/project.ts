/**
 * A tenant of the API. API keys belong to a project, and so do agents (and through them
 * feedback, training runs and policy versions): a key sees only its own project's data.
 */
import { EntitySchema, type Opt } from '@mikro-orm/core';

export interface Project {
  /** `proj_` + 20 url-safe characters (db/api-key-format.ts newProjectId); a SAFE_ID. */
  id: string;
  /** Unique, human-chosen (the CLI's --project). */
  name: string;
  createdAt: Date & Opt;
}

export const ProjectSchema = new EntitySchema<Project>({
  name: 'Project',
  tableName: 'project',
  properties: {
    id: { type: 'string', length: 64, primary: true },
    name: { type: 'string', length: 128, unique: 'project_name_unique' },
    createdAt: { type: 'datetime', length: 6, onCreate: () => new Date() },
  },
});
