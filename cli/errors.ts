/**
 * The CLI's errors and exit codes. Every failure the CLI expects is one of these classes; `exitCodeOf`
 * maps it to the process exit code (anything else is an unexpected failure, code 1).
 */

/**
 * Exit codes, the usual convention of shells and most CLIs (bash's builtins, git, grep's 2 for misuse):
 * 0 success; 1 the command ran and failed (the API refused, the run failed, a bad row in a file);
 * 2 the command line itself is wrong (unknown command or flag, a missing argument, a flag value of
 * the wrong type, no API key configured), so nothing was attempted.
 */
export const ExitCodes = {
  ok: 0,
  failure: 1,
  usage: 2,
} as const;
export type ExitCode = (typeof ExitCodes)[keyof typeof ExitCodes];

/** Thrown when the command line is wrong or incomplete (exit 2); nothing was sent. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  readonly exitCode = ExitCodes.usage;
}

/**
 * Thrown when the API answers with an unexpected status; carries its `{error, message, field?, line?}` body
 * (`line`: the refused line of an NDJSON import, 1-based; `serverMessage`: the body's own message).
 */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  readonly exitCode = ExitCodes.failure;
  constructor(
    message: string,
    readonly status: number,
    readonly code: string | null,
    readonly field: string | null,
    readonly line: number | null = null,
    readonly serverMessage: string = message,
  ) {
    super(message);
  }
}

/** Thrown when the API has no such route (an older server), e.g. `GET /api/runs`. */
export class RouteUnavailableError extends Error {
  override readonly name = 'RouteUnavailableError';
  readonly exitCode = ExitCodes.failure;
  constructor(readonly route: string) {
    super(`this API server has no ${route} route (it predates it); upgrade the server`);
  }
}

/** Thrown when a feedback file has a bad line; `line` is 1-based, `field` names the offending field. */
export class FeedbackFileError extends Error {
  override readonly name = 'FeedbackFileError';
  readonly exitCode = ExitCodes.failure;
  constructor(
    message: string,
    readonly file: string,
    readonly line: number,
    readonly field: string | null,
  ) {
    super(message);
  }
}

/** Thrown when a watched run ends failed or cancelled (exit 1 after its last view is shown). */
export class RunEndedError extends Error {
  override readonly name = 'RunEndedError';
  readonly exitCode = ExitCodes.failure;
  constructor(
    readonly runId: string,
    readonly status: string,
    detail: string | null,
  ) {
    super(`run ${runId} ended ${status}${detail ? `: ${detail}` : ''}`);
  }
}

/** The exit code an error maps to: its own `exitCode` when it is one of the CLI's errors, else 1. */
export function exitCodeOf(err: unknown): ExitCode {
  const code = (err as { exitCode?: unknown } | null)?.exitCode;
  return code === ExitCodes.usage || code === ExitCodes.failure ? code : ExitCodes.failure;
}

/** Thrown when something a command names does not exist (a project, a key). */
export class NotFoundError extends Error {
  override readonly name = 'NotFoundError';
  readonly exitCode = ExitCodes.failure;
}
