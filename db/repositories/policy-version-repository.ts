/**
 * Policy versions. Versions are allocated per agent, gap-free (v1, v2, ...), under a
 * transaction-scoped advisory lock on the agent, so concurrent saves serialise instead of
 * racing for the same number; the (agent_id, version_number) unique constraint backs it up.
 * A save is idempotent per trainingRunId, so a retried activity gets the row it made before.
 */
import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { PolicyVersionSchema, type PolicyVersion } from '../entities';
import { PolicyVersionConflictError } from '../errors';

export interface NewPolicyVersion {
  agentId: string;
  trainingRunId: string;
  modelKey: string;
  rewardModelKey: string;
  feedbackCount: number;
  rewardMean: number;
  rewardStd: number;
  metrics: Record<string, unknown>;
}

/** The seed's version string for a version number. */
export function versionLabel(versionNumber: number): string {
  return `v${versionNumber}`;
}

export class PolicyVersionRepository {
  constructor(private readonly em: EntityManager) {}

  /** Newest first. */
  async listByAgent(agentId: string): Promise<PolicyVersion[]> {
    return this.em.find(PolicyVersionSchema, { agentId }, { orderBy: { versionNumber: 'desc' } });
  }

  /** The agent's newest version (highest versionNumber), or null when it has none. */
  async latest(agentId: string): Promise<PolicyVersion | null> {
    return this.em.findOne(PolicyVersionSchema, { agentId }, { orderBy: { versionNumber: 'desc' } });
  }

  /** The agent's version with this label ("v3"), or null. */
  async findByVersion(agentId: string, version: string): Promise<PolicyVersion | null> {
    return this.em.findOne(PolicyVersionSchema, { agentId, version });
  }

  /** Which of these labels exist for the agent. */
  async existingVersions(agentId: string, versions: readonly string[]): Promise<Set<string>> {
    if (versions.length === 0) return new Set();
    const rows = await this.em.find(PolicyVersionSchema, { agentId, version: { $in: [...versions] } }, { fields: ['version'], disableIdentityMap: true });
    return new Set(rows.map((r) => r.version));
  }

  async findByRun(trainingRunId: string): Promise<PolicyVersion | null> {
    return this.em.findOne(PolicyVersionSchema, { trainingRunId });
  }

  async saveForRun(input: NewPolicyVersion): Promise<PolicyVersion> {
    return this.em.transactional(async (tx) => {
      // Serialises saves of one agent until commit (hashtextextended: 64-bit key from the id).
      await tx.execute('select pg_advisory_xact_lock(hashtextextended(?, 0))', [`policy_version:${input.agentId}`]);
      const existing = await tx.findOne(PolicyVersionSchema, { trainingRunId: input.trainingRunId });
      if (existing) {
        if (existing.agentId !== input.agentId) throw new PolicyVersionConflictError(input.trainingRunId, existing.agentId);
        return existing;
      }
      const [{ last }] = await tx.execute<{ last: number | null }[]>(
        'select max(version_number) as last from policy_version where agent_id = ?',
        [input.agentId],
      );
      const versionNumber = (last ?? 0) + 1;
      const row = tx.create(PolicyVersionSchema, {
        id: randomUUID(),
        ...input,
        versionNumber,
        version: versionLabel(versionNumber),
      });
      await tx.flush();
      return row;
    });
  }
}
