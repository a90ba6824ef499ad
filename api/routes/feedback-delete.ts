/**
 * DELETE /api/policies/feedback/:agentId: deletes an agent's feedback (all of it, the rows
 * named by `ids`, or those created in [from, to)) and every copy a training run made of it
 * (runs/<runId>/dataset/, issue 17), so deleted text does not live on in a forgotten file.
 *
 * While a run of the agent is active the answer is 409 run_active and nothing is deleted: the
 * run reads its copy until it ends, and deleting under it would fail it halfway. Copies go
 * first and rows second, so a failure in between leaves rows that can be deleted again, never
 * a copy of rows already gone. Saved versions keep their weights, which no longer contain the
 * text; retrain to drop what they learned from it.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ActiveRunExistsError } from '../../db/errors';
import { runArtifacts } from '../../storage/artifact-keys';
import { HttpError } from '../errors';
import { requireOwnedAgent } from '../ownership';
import { AgentIdParams, agentErrorResponses, ErrorBody } from '../schemas/common';
import { FeedbackDeleted, FeedbackDeleteQuery } from '../schemas/feedback';

const feedbackDeleteRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.delete(
    '/api/policies/feedback/:agentId',
    {
      schema: {
        summary: "Delete an agent's feedback (all, by id, or by time range) and the copies runs made of it",
        params: AgentIdParams,
        querystring: FeedbackDeleteQuery,
        response: { 200: FeedbackDeleted, ...agentErrorResponses, 409: ErrorBody },
      },
    },
    async (request) => {
      const { agentId } = request.params;
      const { ids, from, to } = request.query;
      const fromDate = from === undefined ? undefined : new Date(from);
      const toDate = to === undefined ? undefined : new Date(to);
      if (fromDate && toDate && fromDate >= toDate) throw new HttpError(400, 'validation_error', 'querystring.to must be later than from', 'to');
      await requireOwnedAgent(request, agentId);
      const active = await request.repos.trainingRuns.findActive(agentId);
      if (active) throw new ActiveRunExistsError(agentId, active.id);
      const runIds = await request.repos.trainingRuns.idsOfAgent(agentId);
      let runCopiesRemoved = 0;
      for (const runId of runIds) {
        const key = runArtifacts.datasetDir(runId);
        if (!(await fastify.artifacts.exists(key))) continue;
        await fastify.artifacts.remove(key);
        runCopiesRemoved += 1;
      }
      const deleted = await request.repos.feedback.deleteForAgent(agentId, {
        ...(ids ? { ids: [...new Set(ids.split(','))] } : {}),
        ...(fromDate ? { from: fromDate } : {}),
        ...(toDate ? { to: toDate } : {}),
      });
      request.log.info({ agentId, deleted, runCopiesRemoved }, 'feedback deleted');
      return { deleted, runCopiesRemoved };
    },
  );
};

export default feedbackDeleteRoutes;
