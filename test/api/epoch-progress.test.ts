import { withEpochProgress } from '../../api/epoch-progress';
import { RunPhases, type RunPhase } from '../../common/names';
import type { RunProgress } from '../../contract/run-contract';

const progressIn = (phase: RunPhase): RunProgress => ({
  runId: 'run_x',
  agentId: 'a',
  phase,
  paused: false,
  step: 0,
  total: 1,
  elapsedMs: 10,
  etaMs: null,
  latestMetrics: null,
  lastCheckpoint: null,
  checkpointRecoveries: [],
  rewardModelPhase: null,
  guardrails: null,
  rewardModel: null,
  klCoef: null,
  klTarget: null,
  error: null,
});

describe('epoch progress from activity heartbeats', () => {
  test('reward-model and SFT phases show epochs done / epochs', () => {
    const beat = { epoch: 4, epochs: 30, trainLoss: 0.1, valLoss: 0.2, valPearson: 0.8, bestEpoch: 3 };
    expect(withEpochProgress(progressIn(RunPhases.rewardModel), [beat])).toMatchObject({ step: 5, total: 30 });
    expect(withEpochProgress(progressIn(RunPhases.sft), [{ epoch: 9, epochs: 10, loss: 1, steps: 30 }])).toMatchObject({ step: 10, total: 10 });
  });

  test('other phases, and heartbeats that are not epoch reports, leave progress unchanged', () => {
    const ppo = { ...progressIn(RunPhases.ppo), step: 3, total: 20 };
    expect(withEpochProgress(ppo, [{ epoch: 1, epochs: 5 }])).toBe(ppo);
    const rm = progressIn(RunPhases.rewardModel);
    // The activity's first heartbeat (before any epoch) and PPO chunk details carry no epoch count.
    expect(withEpochProgress(rm, [{ phase: 'reward_model', epoch: -1 }, { update: 2, checkpointRef: 'x' }, null, 'text'])).toBe(rm);
    expect(withEpochProgress(rm, [])).toBe(rm);
  });

  test('a report past the last epoch is clamped', () => {
    expect(withEpochProgress(progressIn(RunPhases.sft), [{ epoch: 12, epochs: 10 }])).toMatchObject({ step: 10, total: 10 });
  });
});
