/** Answered `generate` calls (db/entities/generation-request.ts): written by serve/, read when feedback names one. */
import type { EntityManager } from '@mikro-orm/postgresql';
import { GenerationRequestSchema, type GenerationRequest } from '../entities';

export class GenerationRequestRepository {
  constructor(private readonly em: EntityManager) {}

  /** One statement, committed on its own (as FeedbackRepository.insert: no unit-of-work round trips on the serving path). */
  async insert(row: Omit<GenerationRequest, 'createdAt'>): Promise<GenerationRequest> {
    const createdAt = new Date();
    await this.em.execute(
      'insert into generation_request (id, project_id, agent_id, version, created_at) values (?, ?, ?, ?, ?)',
      [row.id, row.projectId, row.agentId, row.version, createdAt],
    );
    return { ...row, createdAt };
  }

  /** The requests among `ids` that exist, by id (one query for a whole feedback batch). */
  async getMany(ids: readonly string[]): Promise<Map<string, GenerationRequest>> {
    if (ids.length === 0) return new Map();
    const rows = await this.em.find(GenerationRequestSchema, { id: { $in: [...new Set(ids)] } }, { disableIdentityMap: true });
    return new Map(rows.map((r) => [r.id, r]));
  }
}
