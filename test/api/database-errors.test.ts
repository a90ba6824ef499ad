/**
 * Classification and logging of database errors, on error objects shaped as MikroORM 6 /
 * pg 8 produce them (observed against a Postgres stopped mid-request): which answer 503,
 * and that a logged error never carries the SQL with its inlined values.
 */
import { isDatabaseUnavailable } from '../../api/database-errors';
import { serializeErrorSafely } from '../../api/log-safety';

type ErrorLike = Error & Record<string, unknown>;

function driverError(name: string, message: string, fields: Record<string, unknown> = {}): ErrorLike {
  const err = new Error(message) as ErrorLike;
  err.name = name;
  Object.assign(err, fields);
  return err;
}

const insertSql = `insert into "feedback" ("prompt") values ('my secret prompt')`;

describe('isDatabaseUnavailable', () => {
  it.each([
    ['admin shutdown (57P01)', driverError('DriverException', 'terminating connection due to administrator command', { code: '57P01' })],
    ['connection refused', driverError('DriverException', 'connect ECONNREFUSED 127.0.0.1:5432', { code: 'ECONNREFUSED' })],
    ['a connection lost mid-query', driverError('DriverException', `${insertSql} - Connection terminated unexpectedly`)],
    ['MikroORM ConnectionException', driverError('ConnectionException', 'x')],
    ['knex pool timeout', driverError('KnexTimeoutError', 'Knex: Timeout acquiring a connection.')],
    ['a connection lost on COMMIT (raw pg error, not wrapped)', new Error('COMMIT; - Connection terminated unexpectedly') as ErrorLike],
    ['a statement on a transaction knex ended when its connection died', driverError('DriverException', 'Transaction query already complete, run with DEBUG=knex:tx for more info')],
    ['cannot connect now (57P03)', driverError('DriverException', 'the database system is starting up', { code: '57P03' })],
  ])('%s: yes', (_what, err) => expect(isDatabaseUnavailable(err)).toBe(true));

  it.each([
    ['a check violation', driverError('CheckConstraintViolationException', `${insertSql} - violates check constraint`, { code: '23514', sqlState: '23514' })],
    ['a plain bug', new Error('undefined is not a function') as ErrorLike],
    ['a protocol violation (08P01: NUL in a parameter)', driverError('DriverException', `${insertSql} - invalid message format`, { code: '08P01' })],
    ['user data that mentions a connection', driverError('DriverException', `insert ... ('Connection terminated unexpectedly') - value too long`, { code: '22001' })],
  ])('%s: no', (_what, err) => expect(isDatabaseUnavailable(err)).toBe(false));
});

describe('serializeErrorSafely', () => {
  it('keeps type and SQLSTATE of a server error, not its message or the stack header', () => {
    const err = driverError('CheckConstraintViolationException', `${insertSql} - new row violates check constraint`, { code: '23514', sqlState: '23514', detail: 'Failing row contains (my secret prompt).' });
    const logged = JSON.stringify(serializeErrorSafely(err));
    expect(logged).not.toContain('secret');
    expect(JSON.parse(logged)).toMatchObject({ type: 'CheckConstraintViolationException', sqlState: '23514' });
  });

  it('keeps the driver message of a client-side connection error, without the SQL', () => {
    const logged = serializeErrorSafely(driverError('DriverException', `${insertSql} - Connection terminated unexpectedly`));
    expect(logged.message).toBe('database error (no SQLSTATE): Connection terminated unexpectedly');
    expect(JSON.stringify(logged)).not.toContain('secret');
  });

  it('treats a raw pg connection-lost error as a database error: the SQL it quotes is dropped', () => {
    const logged = serializeErrorSafely(new Error(`${insertSql} - Connection terminated unexpectedly`) as ErrorLike);
    expect(JSON.stringify(logged)).not.toContain('secret');
  });

  it('leaves other errors as they are', () => {
    expect(serializeErrorSafely(new Error('boom') as ErrorLike)).toMatchObject({ type: 'Error', message: 'boom' });
  });
});
