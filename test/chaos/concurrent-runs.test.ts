/**
 * Fault test 7 (issue 5): runs for several agents at once, on two CPU-worker and two
 * GPU-worker processes, in two rounds (every agent gets v1, then v2); then saves of one agent
 * racing from two separate connection pools, one of them a retry of an earlier save.
 * Version numbers must stay unique and gap-free per agent, and a retried save must return
 * the row it made before.
 */
import { createOrm } from '../../db/orm';
import { PolicyVersionRepository, type NewPolicyVersion } from '../../db/repositories';
import type { TrainPolicyResult } from '../../contract/run-contract';
import { ChaosCluster, tinyPatch } from './cluster';

const AGENTS = 3;
const ROUNDS = 2;

let cluster: ChaosCluster;

beforeAll(async () => {
  cluster = await ChaosCluster.start({ name: 'chaos-concurrent-runs' });
  await Promise.all([cluster.startWorker('cpu'), cluster.startWorker('cpu'), cluster.startWorker('gpu'), cluster.startWorker('gpu')]);
}, 180_000);

afterAll(async () => {
  await cluster?.dispose();
});

/** Version numbers of an agent, oldest first. */
async function versionNumbers(agentId: string): Promise<number[]> {
  return (await new PolicyVersionRepository(cluster.orm.em.fork()).listByAgent(agentId)).map((v) => v.versionNumber).reverse();
}

it(`(7) ${AGENTS} agents train at once, ${ROUNDS} rounds, then racing saves: versions unique and gap-free per agent`, async () => {
  const agents = await Promise.all(Array.from({ length: AGENTS }, (_, i) => cluster.seedAgent(70 + i)));
  const runIdsByAgent = new Map<string, string[]>(agents.map((a) => [a, []]));
  for (let round = 1; round <= ROUNDS; round++) {
    // Started WHEN: all agents' runs within one tick; they share the workers and finish in any order.
    const runs = await Promise.all(agents.map((agentId) => cluster.startRun(agentId, tinyPatch(2, 2))));
    const results = (await Promise.all(runs.map((r) => r.handle.result()))) as TrainPolicyResult[];
    for (const [i, result] of results.entries()) {
      expect(result).toMatchObject({ status: 'trained', version: `v${round}`, runId: runs[i].runId });
      runIdsByAgent.get(runs[i].agentId)!.push(runs[i].runId);
    }
  }
  for (const agentId of agents) expect(await versionNumbers(agentId)).toEqual([1, 2]);

  // Two saves of one agent racing from separate pools, plus a retry of round 1's save.
  const [agent] = agents;
  const other = await createOrm(cluster.databaseUrl);
  try {
    const save = (orm: typeof other, trainingRunId: string) => {
      const row: NewPolicyVersion = { agentId: agent, trainingRunId, modelKey: `m/${trainingRunId}`, rewardModelKey: 'r', feedbackCount: 40, rewardMean: 0, rewardStd: 1, metrics: {} };
      return new PolicyVersionRepository(orm.em.fork()).saveForRun(row);
    };
    const retried = runIdsByAgent.get(agent)![0];
    const saved = await Promise.all([save(cluster.orm, 'run_race_a'), save(other, 'run_race_b'), save(other, retried), save(cluster.orm, 'run_race_c')]);
    // CHECKED: the new saves got 3, 4, 5 in some order; the retry got its original v1 back.
    expect(saved.map((v) => v.versionNumber).slice(0, 2).concat(saved[3].versionNumber).sort((a, b) => a - b)).toEqual([3, 4, 5]);
    expect(saved[2]).toMatchObject({ versionNumber: 1, trainingRunId: retried });
  } finally {
    await other.close(true);
  }
  expect(await versionNumbers(agent)).toEqual([1, 2, 3, 4, 5]);
  for (const agentId of agents.slice(1)) expect(await versionNumbers(agentId)).toEqual([1, 2]);
  console.info(`[chaos 7] ${AGENTS} agents x ${ROUNDS} concurrent rounds on 2+2 worker processes, then 4 racing saves: versions gap-free per agent`);
});
