/**
 * The committed migrations (db/migrations/) build exactly the schema the entity definitions
 * describe: after applying them, MikroORM's schema diff against the entities is empty. An
 * entity change without its migration fails here, not at a user's start-up.
 */
import { createTestDatabase, type TestDatabase } from '../helpers/database';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.dispose());

it('leaves no difference between the migrated database and the entity schemas', async () => {
  const diff = await db.orm.getSchemaGenerator().getUpdateSchemaSQL({ wrap: false });
  expect(diff.trim()).toBe('');
});

it('artifact_keys turns the absolute worker paths of existing versions into store keys (issue 16)', async () => {
  const migrator = db.orm.getMigrator();
  await migrator.down({ to: 'Migration20261203180000_serving' });
  const conn = db.orm.em.getConnection();
  await conn.execute(
    `insert into "policy_version" ("id", "agent_id", "version", "version_number", "model_path", "reward_model_path", "feedback_count", "reward_mean", "reward_std", "metrics", "training_run_id", "created_at")
     values ('6f1c1d52-8f0e-4a55-9d47-3b1f0d0e7a01', 'agent-old', 'v2', 2, '/srv/worker-7/models/agent-old/v2/policy', '/srv/worker-7/models/agent-old/v2/reward_model', 12, 0.5, 0.1, '{}', 'run_old_paths', now())`,
  );
  await migrator.up();
  const rows = await conn.execute(`select "model_key", "reward_model_key" from "policy_version" where "training_run_id" = 'run_old_paths'`);
  expect(rows).toEqual([{ model_key: 'agent-old/v2/policy', reward_model_key: 'agent-old/v2/reward_model' }]);
  // No row anywhere keeps an absolute path.
  const absolute = await conn.execute(`select count(*)::int as n from "policy_version" where "model_key" like '/%' or "reward_model_key" like '/%'`);
  expect(absolute).toEqual([{ n: 0 }]);
  expect((await db.orm.getSchemaGenerator().getUpdateSchemaSQL({ wrap: false })).trim()).toBe('');
});
