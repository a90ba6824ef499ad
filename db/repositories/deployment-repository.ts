/**
 * An agent's deployment history (db/entities/deployment-change.ts): the newest row is what is
 * served. Changes of one agent are serialised by a transaction-scoped advisory lock, so a
 * rollback reads and restores the history as it stood, never one half-way through another change.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { DeploymentChangeSchema, type DeploymentAction, type DeploymentChange, type DeploymentSticky, type DeploymentVariant } from '../entities';

export interface NewDeployment {
  variants: DeploymentVariant[];
  sticky: DeploymentSticky;
}

export class DeploymentRepository {
  constructor(private readonly em: EntityManager) {}

  /** The deployment being served, or null when the agent has never been deployed. */
  async current(agentId: string): Promise<DeploymentChange | null> {
    return this.em.findOne(DeploymentChangeSchema, { agentId }, { orderBy: { id: 'desc' }, disableIdentityMap: true });
  }

  /** Newest first, at most `limit` changes. */
  async history(agentId: string, limit: number): Promise<DeploymentChange[]> {
    return this.em.find(DeploymentChangeSchema, { agentId }, { orderBy: { id: 'desc' }, limit, disableIdentityMap: true });
  }

  /**
   * Appends a change. `decide` sees the two newest changes (under the agent's lock) and returns
   * the deployment to store, or throws to refuse the change.
   */
  async change(
    agentId: string,
    action: DeploymentAction,
    decide: (newest: DeploymentChange[]) => NewDeployment,
  ): Promise<DeploymentChange> {
    return this.em.transactional(async (tx) => {
      await tx.execute('select pg_advisory_xact_lock(hashtextextended(?, 0))', [`deployment:${agentId}`]);
      const newest = await tx.find(DeploymentChangeSchema, { agentId }, { orderBy: { id: 'desc' }, limit: 2 });
      const next = decide(newest);
      const row = tx.create(DeploymentChangeSchema, { agentId, action, variants: next.variants, sticky: next.sticky });
      await tx.flush();
      return row;
    });
  }
}
