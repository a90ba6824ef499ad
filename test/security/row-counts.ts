/** Row counts of every table the API can write, to prove a rejected request wrote nothing. */
import type { MikroORM } from '@mikro-orm/postgresql';

export const WRITABLE_TABLES = ['project', 'api_key', 'agent', 'feedback', 'training_run', 'policy_version', 'deployment_change'] as const;

export type RowCounts = Record<(typeof WRITABLE_TABLES)[number], number>;

export async function countRows(orm: MikroORM): Promise<RowCounts> {
  const sql = WRITABLE_TABLES.map((t) => `select '${t}' as t, count(*)::int as n from "${t}"`).join(' union all ');
  const rows = await orm.em.fork().getConnection().execute<{ t: keyof RowCounts; n: number }[]>(sql);
  return Object.fromEntries(rows.map((r) => [r.t, r.n])) as RowCounts;
}
