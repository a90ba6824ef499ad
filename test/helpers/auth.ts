/**
 * A project and an API key for tests that call the HTTP API. Usage:
 *   const { key, headers } = await createTestProjectKey(db.orm);
 *   await app.inject({ method: 'GET', url: '/api/policies/agent-1', headers });
 * Each call makes a new project (a unique name unless one is given; a given name is reused
 * if it exists) and a new key for it.
 */
import { randomBytes } from 'node:crypto';
import type { MikroORM } from '@mikro-orm/postgresql';
import { ProjectRepository } from '../../db/repositories/project-repository';

export interface TestProjectKey {
  projectId: string;
  /** The full `rlhf_<prefix>_<secret>` key. */
  key: string;
  keyId: string;
  /** `{ authorization: 'Bearer <key>' }`, ready for app.inject or fetch. */
  headers: { authorization: string };
}

export async function createTestProjectKey(orm: MikroORM, projectName?: string): Promise<TestProjectKey> {
  const repo = new ProjectRepository(orm.em.fork());
  const project = await repo.ensure(projectName ?? `test-project-${randomBytes(6).toString('hex')}`);
  const { key, row } = await repo.createKey(project.id, 'test');
  return { projectId: project.id, key, keyId: row.id, headers: { authorization: `Bearer ${key}` } };
}
