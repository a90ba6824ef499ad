/**
 * Committed migrations in order, registered explicitly so the running process never globs
 * the filesystem for code. Generate new ones with db/migrate-create.ts and add them here.
 */
import type { MigrationObject } from '@mikro-orm/core';
import { Migration20261125084318_initial } from './Migration20261125084318_initial';
import { Migration20261125091631_projects_api_keys_agents } from './Migration20261125091631_projects_api_keys_agents';
import { Migration20261125112755_idempotency_records } from './Migration20261125112755_idempotency_records';
import { Migration20261203090727_run_events } from './Migration20261203090727_run_events';
import { Migration20261203180000_serving } from './Migration20261203180000_serving';
import { Migration20261203210000_artifact_keys } from './Migration20261203210000_artifact_keys';

export const migrationsList: MigrationObject[] = [
  { name: 'Migration20261125084318_initial', class: Migration20261125084318_initial },
  { name: 'Migration20261125091631_projects_api_keys_agents', class: Migration20261125091631_projects_api_keys_agents },
  { name: 'Migration20261125112755_idempotency_records', class: Migration20261125112755_idempotency_records },
  { name: 'Migration20261203090727_run_events', class: Migration20261203090727_run_events },
  { name: 'Migration20261203180000_serving', class: Migration20261203180000_serving },
  { name: 'Migration20261203210000_artifact_keys', class: Migration20261203210000_artifact_keys },
];
