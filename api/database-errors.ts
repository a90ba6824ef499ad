/**
 * Recognising database errors by shape (name/code, never `instanceof`, which breaks across
 * realms). MikroORM wraps every driver error in a `*Exception` (DriverException and its
 * subclasses) whose message is knex's "<SQL with the bound values inlined> - <pg message>",
 * so the message can quote request data; `driverMessageTail` is the part after the SQL.
 */

type ErrorLike = Error & Record<string, unknown>;

/**
 * A MikroORM driver exception, a raw pg server error (it carries an SQLSTATE and a routine), or
 * a raw pg client error for a lost connection: MikroORM passes the latter through unwrapped when
 * it happens on a transaction's COMMIT ("COMMIT; - Connection terminated unexpectedly").
 */
export function isDatabaseError(err: ErrorLike): boolean {
  if (typeof err.sqlState === 'string') return true;
  if (typeof err.name === 'string' && err.name.endsWith('Exception')) return true;
  if (isConnectionLost(err)) return true;
  return typeof err.code === 'string' && /^[0-9A-Z]{5}$/.test(err.code) && 'routine' in err;
}

/** The driver's own message without the SQL knex prefixes it with. */
export function driverMessageTail(err: ErrorLike): string {
  const parts = String(err.message ?? '').split(' - ');
  return parts[parts.length - 1];
}

/** Client-side connection failures carry no SQLSTATE; pg words them like this. */
const CONNECTION_LOST_RE = /^(Connection terminated|Connection ended|Client has encountered a connection error|timeout exceeded when trying to connect|Client was closed)/i;

/**
 * knex's error for a statement sent on a transaction that is already over. Our requests never
 * reuse a finished transaction; knex ends one itself when its connection dies mid-transaction,
 * and the next statement of the unit of work then gets this (seen in the Postgres-outage test).
 */
const TRANSACTION_GONE_RE = /^Transaction query already complete/;

/** A client-side error (no SQLSTATE) saying the connection went away, raw from pg or wrapped by MikroORM. */
function isConnectionLost(err: ErrorLike): boolean {
  if (typeof err.code === 'string' && err.code !== '') return false;
  const tail = driverMessageTail(err);
  return CONNECTION_LOST_RE.test(tail) || TRANSACTION_GONE_RE.test(tail);
}

/**
 * Postgres out of reach: MikroORM's ConnectionException, knex's pool-acquire timeout, socket
 * errors, SQLSTATE class 08 connection failures (but not 08P01, protocol violation: a NUL in a
 * parameter gets that, and retrying cannot help), 57P01-03 (shutdown, crash, cannot connect
 * now), and a connection that died mid-query or mid-transaction. The client may retry: 503, not
 * 500. A connection lost on COMMIT leaves the write's fate unknown; the client was not told 201,
 * so nothing acknowledged is lost, but a retry may store the row twice.
 */
export function isDatabaseUnavailable(err: ErrorLike): boolean {
  if (err.name === 'ConnectionException' || err.name === 'KnexTimeoutError') return true;
  const code = typeof err.code === 'string' ? err.code : '';
  if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE'].includes(code) || /^(0800[01346]|57P0[1-3])$/.test(code)) return true;
  return isConnectionLost(err);
}
