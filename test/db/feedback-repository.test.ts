import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { FeedbackRepository, type NewFeedback } from '../../db/repositories';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.dispose());

const repo = () => new FeedbackRepository(db.orm.em.fork());
const row = (agentId: string, i: number, score = i): NewFeedback => ({
  agentId,
  runId: `run-${i}`,
  prompt: `prompt ${i}`,
  response: `response ${i}`,
  score,
});

describe('FeedbackRepository', () => {
  it('inserts one row and reads it back with defaults', async () => {
    const saved = await repo().insert({ ...row('agent-one', 1), notes: 'fine' });
    expect(saved.id).toMatch(/^[0-9]+$/);
    const page = await repo().page('agent-one', null, 10);
    expect(page.items).toHaveLength(1);
    expect(page.items[0]).toMatchObject({ agentId: 'agent-one', runId: 'run-1', notes: 'fine', projectId: null, score: 1 });
    expect(page.items[0].createdAt).toBeInstanceOf(Date);
    expect(page.nextCursor).toBeNull();
  });

  it('pages through every row exactly once in insertion order', async () => {
    await repo().insertMany(Array.from({ length: 7 }, (_, i) => row('agent-paged', i)));
    await repo().insert(row('agent-other', 99));
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page = await repo().page('agent-paged', cursor, 3);
      seen.push(...page.items.map((f) => f.prompt));
      cursor = page.nextCursor;
      pages += 1;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toEqual(Array.from({ length: 7 }, (_, i) => `prompt ${i}`));
  });

  it('rejects a malformed cursor; another agent\'s cursor is only a position in this agent\'s rows', async () => {
    await repo().insertMany([row('agent-c', 1), row('agent-c', 2)]);
    const { nextCursor } = await repo().page('agent-c', null, 1);
    expect(nextCursor).toMatch(/^[0-9]+$/);
    expect((await repo().page('agent-d', nextCursor, 1)).items).toEqual([]);
    await expect(repo().page('agent-c', 'not-a-cursor', 1)).rejects.toMatchObject({ name: 'InvalidCursorError' });
    await expect(repo().page('agent-c', '1 or 1=1', 1)).rejects.toMatchObject({ name: 'InvalidCursorError' });
  });

  it('writes nothing from a batch when one row violates a constraint', async () => {
    const bad = { ...row('agent-atomic', 2), agentId: 'x'.repeat(65) };
    await expect(repo().insertMany([row('agent-atomic', 1), bad, row('agent-atomic', 3)])).rejects.toThrow();
    expect(await repo().count('agent-atomic')).toBe(0);
  });

  it('computes count, mean and population std of scores', async () => {
    const scores = [1, 2, 3, 4, 10];
    await repo().insertMany(scores.map((s, i) => row('agent-stats', i, s)));
    const stats = await repo().scoreStats('agent-stats');
    const mean = scores.reduce((a, b) => a + b, 0) / scores.length;
    const std = Math.sqrt(scores.reduce((a, s) => a + (s - mean) ** 2, 0) / scores.length);
    expect(stats.count).toBe(5);
    expect(stats.mean).toBeCloseTo(mean, 12);
    expect(stats.std).toBeCloseTo(std, 12);
    expect(stats).toMatchObject({ min: 1, max: 10 });
    expect(await repo().scoreStats('agent-none')).toEqual({ count: 0, mean: null, std: null, min: null, max: null });
  });

  it('computes statistics of extreme finite scores without overflow', async () => {
    // Any finite double is a valid score; squares of these overflow double precision.
    await repo().insertMany([row('agent-huge', 0, 1e308), row('agent-huge', 1, -1e308), row('agent-huge', 2, 1e200)]);
    const stats = await repo().scoreStats('agent-huge');
    expect(stats).toMatchObject({ count: 3, min: -1e308, max: 1e308 });
    expect(stats.mean! / (1e200 / 3)).toBeCloseTo(1, 9);
    expect(stats.std! / (Math.sqrt(2 / 3) * 1e308)).toBeCloseTo(1, 9);
  });

  it('exports training rows in a deterministic order with only the training fields', async () => {
    await repo().insertMany([row('agent-train', 3, 0.5), row('agent-train', 1, -0.5)]);
    await repo().insert(row('agent-train', 2, 0.25));
    const rows = await repo().listForTraining('agent-train');
    expect(rows).toEqual([
      { prompt: 'prompt 3', response: 'response 3', score: 0.5 },
      { prompt: 'prompt 1', response: 'response 1', score: -0.5 },
      { prompt: 'prompt 2', response: 'response 2', score: 0.25 },
    ]);
    expect(await repo().listForTraining('agent-train')).toEqual(rows);
  });
});
