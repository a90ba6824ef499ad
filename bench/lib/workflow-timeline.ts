/**
 * Where a workflow's wall time went, read from its event history (`handle.fetchHistory()`):
 * per activity, the wait from ActivityTaskScheduled to ActivityTaskStarted (task-queue
 * dispatch) and from Started to Completed/Failed (the activity's own run, as the server saw
 * it), and, between one activity's close and the next one's schedule, the workflow task
 * round trip (WorkflowTaskScheduled → Started → Completed, whose commands schedule the next
 * activity). Event times are the server's clock, so all spans share one clock.
 */
import { tsToMs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

const E = temporal.api.enums.v1.EventType;
const EventType = {
  workflowStarted: E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
  workflowCompleted: E.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
  workflowTaskScheduled: E.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
  workflowTaskStarted: E.EVENT_TYPE_WORKFLOW_TASK_STARTED,
  workflowTaskCompleted: E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
  activityScheduled: E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
  activityStarted: E.EVENT_TYPE_ACTIVITY_TASK_STARTED,
  activityCompleted: E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
  activityFailed: E.EVENT_TYPE_ACTIVITY_TASK_FAILED,
  activityTimedOut: E.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT,
  activityCancelled: E.EVENT_TYPE_ACTIVITY_TASK_CANCELED,
} as const;

const ACTIVITY_CLOSED = new Set<number>([EventType.activityCompleted, EventType.activityFailed, EventType.activityTimedOut, EventType.activityCancelled]);

export interface ActivitySpan {
  type: string;
  scheduledMs: number;
  startedMs: number;
  closedMs: number;
}

export interface WorkflowTimeline {
  startedMs: number;
  closedMs: number;
  /** In schedule order. */
  activities: ActivitySpan[];
  /** Workflow tasks, in order. */
  workflowTasks: WorkflowTaskSpan[];
}

export interface WorkflowTaskSpan {
  scheduledMs: number;
  startedMs: number;
  completedMs: number;
}

const timeOf = (e: HistoryEvent): number => tsToMs(e.eventTime);

/** The spans of one workflow execution's history (a single execution: no continue-as-new). */
export function timelineOf(events: readonly HistoryEvent[]): WorkflowTimeline {
  const byId = new Map<number, ActivitySpan>();
  const activities: ActivitySpan[] = [];
  const workflowTasks: WorkflowTaskSpan[] = [];
  let startedMs = NaN;
  let closedMs = NaN;
  let task: WorkflowTaskSpan = { scheduledMs: NaN, startedMs: NaN, completedMs: NaN };
  for (const e of events) {
    const type = Number(e.eventType);
    const id = Number(e.eventId);
    if (type === EventType.workflowStarted) startedMs = timeOf(e);
    else if (type === EventType.workflowCompleted) closedMs = timeOf(e);
    else if (type === EventType.workflowTaskScheduled) task = { scheduledMs: timeOf(e), startedMs: NaN, completedMs: NaN };
    else if (type === EventType.workflowTaskStarted) task.startedMs = timeOf(e);
    else if (type === EventType.workflowTaskCompleted) workflowTasks.push({ ...task, completedMs: timeOf(e) });
    else if (type === EventType.activityScheduled) {
      const span = { type: e.activityTaskScheduledEventAttributes?.activityType?.name ?? '?', scheduledMs: timeOf(e), startedMs: NaN, closedMs: NaN };
      byId.set(id, span);
      activities.push(span);
    } else if (type === EventType.activityStarted) {
      const span = byId.get(Number(e.activityTaskStartedEventAttributes?.scheduledEventId));
      if (span) span.startedMs = timeOf(e);
    } else if (ACTIVITY_CLOSED.has(type)) {
      const attrs =
        e.activityTaskCompletedEventAttributes ??
        e.activityTaskFailedEventAttributes ??
        e.activityTaskTimedOutEventAttributes ??
        e.activityTaskCanceledEventAttributes;
      const span = byId.get(Number(attrs?.scheduledEventId));
      if (span) span.closedMs = timeOf(e);
    }
  }
  return { startedMs, closedMs, activities, workflowTasks };
}

export interface TimelineBreakdown {
  /** Per activity type, summed over its calls: dispatch wait (scheduled → started), ms. */
  queueMs: Record<string, number>;
  /** Per activity type, summed over its calls: run time (started → closed), ms. */
  runMs: Record<string, number>;
  /** Workflow started → first activity scheduled, plus every close → next schedule, plus last close → workflow closed, ms. */
  betweenActivitiesMs: number;
  /** Σ over workflow tasks: scheduled → started (sticky-queue dispatch to the worker), ms. */
  workflowTaskQueueMs: number;
  /** Σ over workflow tasks: started → completed (the worker running the workflow code and answering), ms. */
  workflowTaskRunMs: number;
  /** Workflow started → closed, ms. */
  totalMs: number;
  /** Server round trips: one dispatch per activity, one per workflow task. */
  hops: number;
}

/** Sums a timeline into dispatch, run and in-between time (activities run one after another in this workflow). */
export function breakdownOf(t: WorkflowTimeline): TimelineBreakdown {
  const queueMs: Record<string, number> = {};
  const runMs: Record<string, number> = {};
  let between = 0;
  let cursor = t.startedMs;
  for (const a of t.activities) {
    queueMs[a.type] = (queueMs[a.type] ?? 0) + (a.startedMs - a.scheduledMs);
    runMs[a.type] = (runMs[a.type] ?? 0) + (a.closedMs - a.startedMs);
    between += Math.max(0, a.scheduledMs - cursor);
    cursor = Math.max(cursor, a.closedMs);
  }
  between += Math.max(0, t.closedMs - cursor);
  const sum = (f: (w: WorkflowTaskSpan) => number) => t.workflowTasks.reduce((n, w) => n + f(w), 0);
  return {
    queueMs,
    runMs,
    betweenActivitiesMs: between,
    workflowTaskQueueMs: sum((w) => w.startedMs - w.scheduledMs),
    workflowTaskRunMs: sum((w) => w.completedMs - w.startedMs),
    totalMs: t.closedMs - t.startedMs,
    hops: t.activities.length + t.workflowTasks.length,
  };
}
