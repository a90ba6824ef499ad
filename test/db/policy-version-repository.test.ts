import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { PolicyVersionRepository, type NewPolicyVersion } from '../../db/repositories';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.dispose());

const repo = () => new PolicyVersionRepository(db.orm.em.fork());
const save = (agentId: string, trainingRunId: string, rewardMean = 0.5): NewPolicyVersion => ({
  agentId,
  trainingRunId,
  modelKey: `models/${agentId}/x/policy`,
  rewardModelKey: `models/${agentId}/x/reward_model`,
  feedbackCount: 12,
  rewardMean,
  rewardStd: 0.1,
  metrics: { rewardMean, valPearson: 0.8 },
});

describe('PolicyVersionRepository', () => {
  it('allocates v1, v2, ... per agent and lists newest first', async () => {
    const a1 = await repo().saveForRun(save('agent-a', 'run_a1'));
    const b1 = await repo().saveForRun(save('agent-b', 'run_b1'));
    const a2 = await repo().saveForRun(save('agent-a', 'run_a2', 0.9));
    expect([a1.version, a1.versionNumber, b1.version, a2.version]).toEqual(['v1', 1, 'v1', 'v2']);
    const list = await repo().listByAgent('agent-a');
    expect(list.map((v) => v.version)).toEqual(['v2', 'v1']);
    expect(list[0].metrics).toEqual({ rewardMean: 0.9, valPearson: 0.8 });
  });

  it('returns the existing row when a run saves again (activity retry)', async () => {
    const first = await repo().saveForRun(save('agent-retry', 'run_r1'));
    const again = await repo().saveForRun(save('agent-retry', 'run_r1', 0.99));
    expect(again.id).toBe(first.id);
    expect(again.version).toBe('v1');
    expect(await repo().listByAgent('agent-retry')).toHaveLength(1);
  });

  it('refuses to reuse a run id for another agent', async () => {
    await repo().saveForRun(save('agent-x', 'run_shared'));
    await expect(repo().saveForRun(save('agent-y', 'run_shared'))).rejects.toMatchObject({
      name: 'PolicyVersionConflictError',
    });
  });

  it('keeps versions gap-free and unique under concurrent saves, with retries mixed in', async () => {
    const runs = Array.from({ length: 12 }, (_, i) => `run_c${i}`);
    // Every run saves twice, all at once, each save on its own EntityManager (own connection).
    const results = await Promise.all([...runs, ...runs].map((r) => repo().saveForRun(save('agent-race', r))));
    const byRun = new Map<string, string>();
    for (const v of results) {
      const prior = byRun.get(v.trainingRunId);
      if (prior) expect(v.version).toBe(prior);
      byRun.set(v.trainingRunId, v.version);
    }
    const numbers = (await repo().listByAgent('agent-race')).map((v) => v.versionNumber).sort((a, b) => a - b);
    expect(numbers).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
  });
});
