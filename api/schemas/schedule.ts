/** Retraining-schedule schemas (issue 14 item 5): the PUT body and the schedule view. */
import { Type } from 'typebox';
import { SAFE_ID_PATTERN } from '../../common/ids';
import { ScheduleSkipReasons } from '../../contract/schedule-contract';
import { TrainBody } from './runs';

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

/** A whole number and a unit (seconds, minutes, hours, days): Temporal's interval, as an ms-format string. */
export const EVERY_PATTERN = '^[1-9][0-9]{0,5}[smhd]$';

/** The train_policy knobs a schedule's runs take, with the same bounds and defaults. */
const runKnobs = {
  preset: TrainBody.properties.preset,
  maxSteps: TrainBody.properties.maxSteps,
  learningRate: TrainBody.properties.learningRate,
  seed: TrainBody.properties.seed,
  reuseRewardModel: TrainBody.properties.reuseRewardModel,
};

const timing = {
  cron: Type.Optional(
    Type.String({
      pattern: '^[ -~]{1,256}$',
      description: 'When actions are due, as a cron expression in UTC (e.g. "0 3 * * *": 03:00 every day; Temporal\'s cron, @daily etc. included). Exactly one of cron and every.',
    }),
  ),
  every: Type.Optional(
    Type.String({ pattern: EVERY_PATTERN, description: 'When actions are due, as a fixed interval from the epoch (e.g. "30m", "6h", "1d"). Exactly one of cron and every.' }),
  ),
};

export const ScheduleBody = Type.Object(
  {
    ...timing,
    minNewFeedback: Type.Integer({
      minimum: 1,
      maximum: 100_000_000,
      description: 'An action starts a run only when at least this many feedback rows arrived since the agent\'s newest policy version; otherwise it records a skip with the reason.',
    }),
    ...runKnobs,
  },
  { additionalProperties: false },
);

const ScheduleDecisionView = Type.Object({
  outcome: Type.Union([Type.Literal('started'), Type.Literal('skipped')]),
  runId: Type.Optional(Type.String({ description: 'started: the run (GET /api/runs/:runId)' })),
  reason: Type.Optional(
    Type.Union([Type.Literal(ScheduleSkipReasons.tooLittleNewFeedback), Type.Literal(ScheduleSkipReasons.tooLittleFeedback), Type.Literal(ScheduleSkipReasons.runActive)], {
      description: 'skipped: why',
    }),
  ),
  message: Type.Optional(Type.String({ description: 'skipped: the reason in words, with the numbers' })),
  activeRunId: Type.Optional(Type.String({ description: 'skipped as run_active: the run that was active' })),
  feedbackCount: Nullable(Type.Integer()),
  newFeedback: Nullable(Type.Integer({ description: 'Rows since the newest policy version (null: not counted, another run was active)' })),
  sinceVersion: Nullable(Type.String({ description: 'The policy version new rows are counted from; null when the agent has none' })),
});

const ScheduleActionView = Type.Object({
  workflowId: Type.String({ description: 'The action\'s workflow (scheduledTrainingWorkflow) in Temporal' }),
  scheduledAt: Type.String({ format: 'date-time' }),
  takenAt: Type.String({ format: 'date-time' }),
  workflowStatus: Nullable(Type.String({ description: 'RUNNING while its run trains; null once past the namespace\'s retention' })),
  decision: Nullable(ScheduleDecisionView),
});

export const ScheduleView = Type.Object({
  scheduleId: Type.String(),
  agentId: Type.String({ pattern: SAFE_ID_PATTERN }),
  ...timing,
  minNewFeedback: Type.Integer(),
  ...runKnobs,
  preset: Type.String({ description: 'The preset of the runs it starts' }),
  paused: Type.Boolean(),
  note: Nullable(Type.String()),
  nextActionTimes: Type.Array(Type.String({ format: 'date-time' }), { description: 'The next due times (none while paused)' }),
  actionsTaken: Type.Integer({ description: 'Actions started so far (due or triggered)' }),
  skippedOverlap: Type.Integer({ description: 'Actions dropped because the previous one (and its run) was still open: overlap policy SKIP' }),
  runningActions: Type.Array(Type.String(), { description: 'Workflow ids of open actions (at most one)' }),
  recentActions: Type.Array(ScheduleActionView, { description: 'The most recent actions (Temporal keeps 10), newest first, with what each decided' }),
});

export const ScheduleTriggered = Type.Object({
  scheduleId: Type.String(),
  status: Type.Literal('triggered'),
});
