/** Training-run status with live progress, and run control (pause, resume, cancel, KL); runs of the key's project only. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { pauseSignal, resumeSignal, setKlSignal } from '../../workflows/messages';
import { loadOwnedRun } from '../ownership';
import { controlRun, observeRun } from '../run-workflows';
import { ErrorBody, RunIdParams, authErrorResponses } from '../schemas/common';
import { KlBody, RunAccepted, RunView, runLinks } from '../schemas/runs';
import type { WorkflowHandle } from '@temporalio/client';

const controlResponses = { 202: RunAccepted, 404: ErrorBody, 409: ErrorBody, ...authErrorResponses };

const runRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const client = fastify.temporal;

  fastify.get(
    '/api/runs/:runId',
    {
      schema: {
        summary: 'A training run: its row, live progress, and the result once completed',
        params: RunIdParams,
        response: { 200: RunView, 404: ErrorBody, ...authErrorResponses },
      },
    },
    async (request) => {
      const observed = await observeRun(client, request.repos, await loadOwnedRun(request, request.params.runId));
      const { run } = observed;
      return {
        runId: run.id,
        workflowId: run.workflowId,
        agentId: run.agentId,
        status: run.status,
        config: run.config,
        error: run.error,
        createdAt: run.createdAt.toISOString(),
        updatedAt: run.updatedAt.toISOString(),
        finishedAt: run.finishedAt?.toISOString() ?? null,
        workflowStatus: observed.workflowStatus,
        progress: observed.progress,
        progressUnavailable: observed.progressUnavailable,
        result: observed.result,
        links: runLinks(run.id),
      };
    },
  );

  const actions = {
    pause: { summary: 'Pause at the next chunk boundary', act: (h: WorkflowHandle) => h.signal(pauseSignal) },
    resume: { summary: 'Resume a paused run', act: (h: WorkflowHandle) => h.signal(resumeSignal) },
    cancel: { summary: 'Cancel the run (Temporal workflow cancellation)', act: (h: WorkflowHandle) => h.cancel().then(() => undefined) },
  } as const;

  for (const [action, { summary, act }] of Object.entries(actions)) {
    fastify.post(
      `/api/runs/:runId/${action}`,
      { schema: { summary, params: RunIdParams, response: controlResponses } },
      async (request, reply) => {
        await controlRun(client, request.repos, await loadOwnedRun(request, request.params.runId), act);
        return reply.status(202).send({ runId: request.params.runId, status: 'accepted', action });
      },
    );
  }

  fastify.post(
    '/api/runs/:runId/kl',
    {
      schema: {
        summary: 'Change the KL coefficient and/or target of a running run',
        params: RunIdParams,
        body: KlBody,
        response: controlResponses,
      },
    },
    async (request, reply) => {
      const { coef, target } = request.body;
      await controlRun(client, request.repos, await loadOwnedRun(request, request.params.runId), (h) =>
        h.signal(setKlSignal, { ...(coef !== undefined ? { coef } : {}), ...(target !== undefined ? { target } : {}) }),
      );
      return reply.status(202).send({ runId: request.params.runId, status: 'accepted', action: 'kl' });
    },
  );
};

export default runRoutes;
