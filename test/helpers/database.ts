/**
 * A fresh Postgres database per test file: created from the maintenance URL in DATABASE_URL
 * (exported by scripts/test.sh), migrated by createOrm exactly as in production, and dropped
 * again by dispose() (scripts/services/scratch-database.ts). Usage:
 *   let db: TestDatabase;
 *   beforeAll(async () => { db = await createTestDatabase(); });
 *   afterAll(() => db.dispose());
 */
import { createScratchDatabase, type ScratchDatabase } from '../../scripts/services/scratch-database';

export type TestDatabase = ScratchDatabase;

export async function createTestDatabase(): Promise<TestDatabase> {
  const maintenanceUrl = process.env.DATABASE_URL;
  if (!maintenanceUrl) throw new Error('DATABASE_URL is not set: run the suite with `npm test` (scripts/test.sh starts Postgres)');
  return createScratchDatabase(maintenanceUrl, 'test');
}
