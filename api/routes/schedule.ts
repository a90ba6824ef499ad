/**
 * /api/policies/:agentId/schedule: an agent's retraining schedule (issue 14 item 5), a Temporal
 * Schedule whose actions start a run when enough new feedback arrived and record a skip
 * otherwise (api/training-schedules.ts). Agents of the key's project only.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type, type Static } from 'typebox';
import { resolveRunConfig, type PresetName } from '../../spec/run-config';
import type { ScheduledTrainingInput } from '../../contract/schedule-contract';
import { HttpError } from '../errors';
import { requireOwnedAgent } from '../ownership';
import { operatorRunOptions } from '../run-workflows';
import {
  deleteTrainingSchedule,
  describeTrainingSchedule,
  pauseTrainingSchedule,
  putTrainingSchedule,
  scheduleIdOf,
  triggerTrainingSchedule,
  type ScheduleTiming,
  type TrainingScheduleView,
} from '../training-schedules';
import { AgentIdParams, agentErrorResponses } from '../schemas/common';
import { DEFAULT_PRESET } from '../schemas/runs';
import { ScheduleBody, ScheduleTriggered, ScheduleView } from '../schemas/schedule';

/** Exactly one of cron and every; a 400 naming the field otherwise. */
function timingOf(body: { cron?: string; every?: string }): ScheduleTiming {
  if (body.cron !== undefined && body.every !== undefined) throw new HttpError(400, 'invalid_schedule', 'every: give either cron or every, not both', 'every');
  if (body.cron !== undefined) return { cron: body.cron };
  if (body.every !== undefined) return { every: body.every };
  throw new HttpError(400, 'invalid_schedule', 'cron: give cron (a cron expression) or every (an interval such as "6h")', 'cron');
}

function viewBody(view: TrainingScheduleView): Static<typeof ScheduleView> {
  const { preset, maxSteps, learningRate, seed, reuseRewardModel } = view.input.run;
  return {
    scheduleId: view.scheduleId,
    agentId: view.agentId,
    ...view.timing,
    minNewFeedback: view.input.minNewFeedback,
    preset,
    ...(maxSteps === undefined ? {} : { maxSteps }),
    ...(learningRate === undefined ? {} : { learningRate }),
    ...(seed === undefined ? {} : { seed }),
    ...(reuseRewardModel === undefined ? {} : { reuseRewardModel }),
    paused: view.paused,
    note: view.note,
    nextActionTimes: view.nextActionTimes,
    actionsTaken: view.actionsTaken,
    skippedOverlap: view.skippedOverlap,
    runningActions: view.runningActions,
    recentActions: view.recentActions,
  };
}

const scheduleRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const client = fastify.temporal;
  const path = '/api/policies/:agentId/schedule';

  fastify.put(
    path,
    {
      schema: {
        summary: 'Create (201) or replace (200) the agent\'s retraining schedule: runs start when at least minNewFeedback rows arrived since its newest version, never two at once',
        params: AgentIdParams,
        body: ScheduleBody,
        response: { 200: ScheduleView, 201: ScheduleView, ...agentErrorResponses },
      },
    },
    async (request, reply) => {
      const { agentId } = request.params;
      await requireOwnedAgent(request, agentId);
      const { minNewFeedback, maxSteps, learningRate, seed, reuseRewardModel } = request.body;
      const preset: PresetName = request.body.preset ?? DEFAULT_PRESET;
      const timing = timingOf(request.body);
      // The same resolution train_policy does: a bad override is a 400 now, not a failed run at 3 a.m.
      resolveRunConfig(preset, { maxSteps, learningRate, seed });
      const input: ScheduledTrainingInput = {
        agentId,
        minNewFeedback,
        run: { preset, maxSteps, learningRate, seed, reuseRewardModel, ...operatorRunOptions(fastify.appConfig) },
      };
      const outcome = await putTrainingSchedule(client, timing, input);
      request.log.info({ agentId, scheduleId: scheduleIdOf(agentId), outcome }, 'retraining schedule saved');
      return reply.status(outcome === 'created' ? 201 : 200).send(viewBody(await describeTrainingSchedule(client, agentId)));
    },
  );

  fastify.get(
    path,
    {
      schema: {
        summary: 'The agent\'s retraining schedule: its next action times and what its recent actions decided (started a run, or skipped and why)',
        params: AgentIdParams,
        response: { 200: ScheduleView, ...agentErrorResponses },
      },
    },
    async (request) => {
      await requireOwnedAgent(request, request.params.agentId);
      return viewBody(await describeTrainingSchedule(client, request.params.agentId));
    },
  );

  fastify.delete(
    path,
    {
      schema: {
        summary: 'Delete the agent\'s retraining schedule (a run it started keeps training)',
        params: AgentIdParams,
        response: { 204: Type.Null({ description: 'Deleted' }), ...agentErrorResponses },
      },
    },
    async (request, reply) => {
      await requireOwnedAgent(request, request.params.agentId);
      await deleteTrainingSchedule(client, request.params.agentId);
      return reply.status(204).send(null);
    },
  );

  for (const [action, paused] of [['pause', true], ['unpause', false]] as const) {
    fastify.post(
      `${path}/${action}`,
      {
        schema: {
          summary: paused ? 'Pause the agent\'s retraining schedule (no action is due until unpaused)' : 'Unpause the agent\'s retraining schedule',
          params: AgentIdParams,
          response: { 200: ScheduleView, ...agentErrorResponses },
        },
      },
      async (request) => {
        await requireOwnedAgent(request, request.params.agentId);
        await pauseTrainingSchedule(client, request.params.agentId, paused);
        return viewBody(await describeTrainingSchedule(client, request.params.agentId));
      },
    );
  }

  fastify.post(
    `${path}/trigger`,
    {
      schema: {
        summary: 'Take one action now (even while paused); it still skips on too little new feedback or an open action or run',
        params: AgentIdParams,
        response: { 202: ScheduleTriggered, ...agentErrorResponses },
      },
    },
    async (request, reply) => {
      await requireOwnedAgent(request, request.params.agentId);
      await triggerTrainingSchedule(client, request.params.agentId);
      return reply.status(202).send({ scheduleId: scheduleIdOf(request.params.agentId), status: 'triggered' as const });
    },
  );
};

export default scheduleRoutes;
