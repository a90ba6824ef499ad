/** Errors of the persistence layer. The API maps them to HTTP statuses (api/errors.ts). */

/** Thrown when a paging cursor was not produced by this API (tampered, truncated, or another agent's). */
export class InvalidCursorError extends Error {
  override readonly name = 'InvalidCursorError';
  constructor(readonly cursor: string) {
    super('cursor is not valid; pass nextCursor from a previous page unchanged');
  }
}

/** Thrown when a run is created while the agent already has a queued, running or paused one. */
export class ActiveRunExistsError extends Error {
  override readonly name = 'ActiveRunExistsError';
  constructor(
    readonly agentId: string,
    readonly activeRunId: string | null,
  ) {
    super(`agent ${agentId} already has an active training run${activeRunId ? ` (${activeRunId})` : ''}`);
  }
}

/** Thrown when a run id names no TrainingRun row. */
export class RunNotFoundError extends Error {
  override readonly name = 'RunNotFoundError';
  constructor(readonly runId: string) {
    super(`training run ${runId} not found`);
  }
}

/** Thrown when a policy version is saved for a run that already saved one for a different agent. */
export class PolicyVersionConflictError extends Error {
  override readonly name = 'PolicyVersionConflictError';
  constructor(
    readonly trainingRunId: string,
    readonly existingAgentId: string,
  ) {
    super(`training run ${trainingRunId} already saved a policy version for agent ${existingAgentId}`);
  }
}
