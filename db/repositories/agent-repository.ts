/**
 * Agent ownership. Agent ids are global (they name artifact paths and version sequences), so
 * an agent belongs to the project that first posted feedback for it; other projects are
 * told it does not exist.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { AgentSchema } from '../entities';

export class AgentRepository {
  constructor(private readonly em: EntityManager) {}

  /** The owning project of an agent, or null for an unknown agent. */
  async ownerOf(agentId: string): Promise<string | null> {
    const row = await this.em.findOne(AgentSchema, { id: agentId }, { disableIdentityMap: true });
    return row?.projectId ?? null;
  }

  /** True when `projectId` owns the agent. */
  async isOwnedBy(agentId: string, projectId: string): Promise<boolean> {
    return (await this.ownerOf(agentId)) === projectId;
  }

  /**
   * Gives an unknown agent to `projectId` and reports whether the project owns it now; a
   * concurrent claim of the same id by another project loses (on conflict do nothing).
   */
  async claim(agentId: string, projectId: string): Promise<boolean> {
    // Ownership never changes once set, so a known agent needs one read and no insert.
    const owner = await this.ownerOf(agentId);
    if (owner !== null) return owner === projectId;
    await this.em.execute('insert into agent (id, project_id, created_at) values (?, ?, now()) on conflict (id) do nothing', [agentId, projectId]);
    return this.isOwnedBy(agentId, projectId);
  }
}
