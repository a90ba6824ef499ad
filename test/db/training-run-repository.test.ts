import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { TrainingRunRepository } from '../../db/repositories';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.dispose());

const repo = () => new TrainingRunRepository(db.orm.em.fork());
const newRun = (id: string, agentId: string) => ({ id, workflowId: `train-${id}`, agentId, config: { preset: 'quick' } });

describe('TrainingRunRepository', () => {
  it('creates a queued run and gets it back', async () => {
    await repo().create(newRun('run_get', 'agent-get'));
    const run = await repo().get('run_get');
    expect(run).toMatchObject({ id: 'run_get', workflowId: 'train-run_get', status: 'queued', error: null, finishedAt: null });
    expect(run?.config).toEqual({ preset: 'quick' });
    expect(await repo().get('run_missing')).toBeNull();
  });

  it('allows one active run per agent, also under concurrent creates', async () => {
    const attempts = await Promise.allSettled(
      Array.from({ length: 6 }, (_, i) => repo().create(newRun(`run_race${i}`, 'agent-race'))),
    );
    const ok = attempts.filter((a) => a.status === 'fulfilled');
    const refused = attempts.filter((a): a is PromiseRejectedResult => a.status === 'rejected');
    expect(ok).toHaveLength(1);
    expect(refused).toHaveLength(5);
    for (const r of refused) expect(r.reason).toMatchObject({ name: 'ActiveRunExistsError', agentId: 'agent-race' });
    const active = await repo().findActive('agent-race');
    expect(refused[0].reason).toMatchObject({ activeRunId: active?.id });
  });

  it('frees the agent once its run finishes, and keeps finished statuses terminal', async () => {
    await repo().create(newRun('run_f1', 'agent-f'));
    const running = await repo().setStatus('run_f1', 'running');
    expect(running.status).toBe('running');
    expect(running.finishedAt).toBeNull();
    const failed = await repo().setStatus('run_f1', 'failed', 'reward model below quality gate');
    expect(failed).toMatchObject({ status: 'failed', error: 'reward model below quality gate' });
    expect(failed.finishedAt).toBeInstanceOf(Date);
    const late = await repo().setStatus('run_f1', 'running');
    expect(late.status).toBe('failed');
    expect(await repo().findActive('agent-f')).toBeNull();
    await expect(repo().create(newRun('run_f2', 'agent-f'))).resolves.toMatchObject({ status: 'queued' });
  });

  it('throws RunNotFoundError for an unknown run', async () => {
    await expect(repo().setStatus('run_nope', 'running')).rejects.toMatchObject({ name: 'RunNotFoundError', runId: 'run_nope' });
  });
});
