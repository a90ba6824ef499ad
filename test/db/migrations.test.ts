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
