/**
 * The shared services that scripts/test.sh (`npm test`) starts once per jest run, read from the
 * environment it exports. Integration tests call `testServices()` and fail loudly, naming what
 * is missing, when they are run without those services (plain `npx jest`).
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';

export interface TestServices {
  /** Maintenance URL (database `postgres`); test files create their own databases from it. */
  readonly databaseUrl: string;
  readonly temporalAddress: string;
  readonly temporalNamespace: string;
  /** The provisioned `temporal` CLI, for tests that start their own server. */
  readonly temporalCliPath: string;
  /** A fresh temporary directory for this jest run. */
  readonly artifactRoot: string;
}

const REQUIRED = ['DATABASE_URL', 'TEMPORAL_ADDRESS', 'TEMPORAL_NAMESPACE', 'TEMPORAL_CLI_PATH', 'ARTIFACT_ROOT'] as const;

/** Reads the services from the environment; throws naming every missing variable. */
export function testServices(env: NodeJS.ProcessEnv = process.env): TestServices {
  const missing = REQUIRED.filter((name) => !env[name]);
  if (missing.length > 0) {
    throw new Error(`${missing.join(', ')} not set: run integration tests through \`npm test -- <paths>\` (scripts/test.sh), which starts Postgres and Temporal`);
  }
  const get = (name: (typeof REQUIRED)[number]): string => env[name] as string;
  return {
    databaseUrl: get('DATABASE_URL'),
    temporalAddress: get('TEMPORAL_ADDRESS'),
    temporalNamespace: get('TEMPORAL_NAMESPACE'),
    temporalCliPath: get('TEMPORAL_CLI_PATH'),
    artifactRoot: get('ARTIFACT_ROOT'),
  };
}

/** A directory of its own under ARTIFACT_ROOT for one test file (`name` is e.g. the file's base name). */
export function testArtifactRoot(name: string, services: TestServices = testServices()): string {
  const dir = path.join(services.artifactRoot, `${name}-${process.pid}-${Date.now().toString(36)}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}
