/**
 * The services scripts/test.sh provides are the ones the project needs: a Temporal frontend with
 * the two custom search attributes (Keyword) on the namespace, a Postgres that answers queries,
 * a runnable Temporal CLI and a writable artifact root.
 */
import { execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { knex } from '@mikro-orm/postgresql';
import { SearchAttributeKeys } from '../../common/names';
import { testServices } from '../helpers/services';

const services = testServices();

describe('test services', () => {
  it('Temporal has AgentId and RunPhase registered as Keyword on the namespace', async () => {
    const connection = await Connection.connect({ address: services.temporalAddress });
    try {
      const described = await connection.workflowService.describeNamespace({ namespace: services.temporalNamespace });
      expect(described.namespaceInfo?.name).toBe(services.temporalNamespace);
      const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace: services.temporalNamespace });
      const keyword = temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD;
      expect(customAttributes?.[SearchAttributeKeys.agentId]).toBe(keyword);
      expect(customAttributes?.[SearchAttributeKeys.runPhase]).toBe(keyword);
    } finally {
      await connection.close();
    }
  });

  it('Postgres answers select 1 and can create a database', async () => {
    const db = knex({ client: 'pg', connection: services.databaseUrl, pool: { min: 0, max: 1 } });
    const name = `infra_probe_${process.pid}`;
    try {
      const result = (await db.raw('select 1 as one')) as { rows: Array<{ one: number }> };
      expect(result.rows).toEqual([{ one: 1 }]);
      await db.raw('create database ??', [name]);
      const listed = (await db.raw('select datname from pg_database where datname = ?', [name])) as { rows: unknown[] };
      expect(listed.rows).toHaveLength(1);
    } finally {
      await db.raw('drop database if exists ??', [name]);
      await db.destroy();
    }
  });

  it('the provisioned Temporal CLI runs and the artifact root is writable', () => {
    expect(execFileSync(services.temporalCliPath, ['--version'], { encoding: 'utf8' })).toMatch(/^temporal version /);
    expect(() => accessSync(services.artifactRoot, constants.W_OK)).not.toThrow();
  });
});
