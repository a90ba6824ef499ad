/** Projects (tenants) and their API keys: creation, authentication by key, revocation. */
import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { generateKeyMaterial, newProjectId, parseApiKey, secretMatches } from '../api-key-format';
import { ApiKeySchema, ProjectSchema, type ApiKey, type Project } from '../entities';

export interface CreatedApiKey {
  row: ApiKey;
  /** The full key: shown once, not stored. */
  key: string;
}

/** Who a valid key speaks for. */
export interface ApiKeyIdentity {
  keyId: string;
  projectId: string;
}

export class ProjectRepository {
  constructor(private readonly em: EntityManager) {}

  async findByName(name: string): Promise<Project | null> {
    return this.em.findOne(ProjectSchema, { name });
  }

  async get(projectId: string): Promise<Project | null> {
    return this.em.findOne(ProjectSchema, { id: projectId });
  }

  /** The project called `name`, created if absent (safe against a concurrent create of the same name). */
  async ensure(name: string): Promise<Project> {
    await this.em.execute('insert into project (id, name, created_at) values (?, ?, now()) on conflict (name) do nothing', [newProjectId(), name]);
    const project = await this.em.findOne(ProjectSchema, { name }, { refresh: true });
    if (!project) throw new Error(`project ${name} vanished right after it was ensured`);
    return project;
  }

  /** A new key for the project; the returned `key` is the only copy of the secret. */
  async createKey(projectId: string, name: string): Promise<CreatedApiKey> {
    const material = generateKeyMaterial();
    const row = this.em.create(ApiKeySchema, {
      id: randomUUID(),
      projectId,
      name,
      prefix: material.prefix,
      keyHash: material.keyHash,
      revokedAt: null,
    });
    await this.em.flush();
    return { row, key: material.key };
  }

  /** The identity of a presented key, or null when it is malformed, unknown or revoked. */
  async authenticate(presented: string): Promise<ApiKeyIdentity | null> {
    const parsed = parseApiKey(presented);
    if (!parsed) return null;
    const row = await this.em.findOne(ApiKeySchema, { prefix: parsed.prefix }, { disableIdentityMap: true });
    if (!row || row.revokedAt !== null || !secretMatches(parsed.secret, row.keyHash)) return null;
    return { keyId: row.id, projectId: row.projectId };
  }

  /** Marks a key revoked (idempotent: the first revocation time is kept); true when this call revoked it. */
  async revokeKey(keyId: string): Promise<boolean> {
    return (await this.em.nativeUpdate(ApiKeySchema, { id: keyId, revokedAt: null }, { revokedAt: new Date() })) > 0;
  }

  /** The project's keys (revoked ones too, for the audit trail), oldest first; hashes are never returned. */
  async listKeys(projectId: string): Promise<Array<Omit<ApiKey, 'keyHash'>>> {
    const rows = await this.em.find(ApiKeySchema, { projectId }, { orderBy: { createdAt: 'asc', id: 'asc' }, disableIdentityMap: true });
    return rows.map(({ keyHash: _hash, ...rest }) => rest);
  }

  /** One key's row, or null when the id is unknown. */
  async getKey(keyId: string): Promise<ApiKey | null> {
    return this.em.findOne(ApiKeySchema, { id: keyId }, { disableIdentityMap: true });
  }
}
