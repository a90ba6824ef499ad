/**
 * POST /api/policies/train_policy/:agentId: dry run (estimate) or start a training run.
 * A real run answers 202 at once; the run itself is a Temporal workflow (the seed blocked
 * the HTTP request for the whole training).
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Static } from 'typebox';
import type { FastifyRequest } from 'fastify';
import type { Repositories } from '../../db/repositories';
import { ConfigError, resolveRunConfig, type PresetName, type RunConfig } from '../../spec/run-config';
import type { DataLengths } from '../../spec/data-lengths';
import { dataAwareConfig } from '../../spec/data-aware-config';
import type { FeedbackExample } from '../../spec/train-val-split';
import { isFinishedStatus } from '../../db/entities';
import { ActiveRunExistsError } from '../../db/errors';
import { resolveBaseModelDir, runConfigForBase } from '../../spec/base-model';
import { HF_ERROR_NAMES } from '../../spec/hf-errors';
import type { Gpt2HfConfig } from '../../spec/hf-model-config';
import { readGpt2Config } from '../../spec/hf-model-config';
import { downloadHubConfig, type HubModelRef } from '../../hub/hf-hub';
import { estimateDryRun } from '../dry-run-estimate';
import { HttpError, InsufficientFeedbackError } from '../errors';
import { IDEMPOTENCY_KEY_HEADER, REPLAYED_HEADER, idempotentWrite, requestHash } from '../idempotency';
import { newRunId, observeRun, operatorRunOptions, runIdFromKey, startTrainingWorkflowOnce, workflowIdOf } from '../run-workflows';
import { identityOf, requireOwnedAgent } from '../ownership';
import { AgentIdParams, ErrorBody, agentErrorResponses } from '../schemas/common';
import { DEFAULT_PRESET, DryRunBody, RunStartedBody, TrainBody, runLinks } from '../schemas/runs';
import { IdempotencyHeaders } from '../schemas/feedback';

/**
 * The base model a request names (issue 7): its real directory inside RLHF_BASE_MODEL_ROOT and
 * its config.json, or null when none is named. Anything else is a 400 naming `baseModelDir`;
 * messages carry the client's own string, never the server's paths.
 */
async function requestedBaseModel(root: string | undefined, requested: string | undefined): Promise<{ dir: string; hfConfig: Gpt2HfConfig } | null> {
  if (requested === undefined) return null;
  let dir: string | null = null;
  try {
    dir = await resolveBaseModelDir(root, requested);
    return { dir, hfConfig: await readGpt2Config(dir) };
  } catch (err) {
    if (!(err instanceof Error) || !HF_ERROR_NAMES.has(err.name)) throw err;
    const message = dir === null ? err.message : err.message.split(dir).join(requested);
    throw new HttpError(400, 'invalid_base_model_dir', `baseModelDir: ${message}`, 'baseModelDir');
  }
}

/**
 * The hub base a request names by id (`baseModel`, optional `baseModelRevision`): only its
 * config.json is fetched here (into RLHF_HF_CACHE, verified), for the shape and the dry run; the
 * workers download the weights. Naming both baseModel and baseModelDir, an id the hub does not
 * have, or a revision without a model is a 400 naming the field; an unreachable hub is a 502.
 */
async function requestedHubModel(body: { baseModel?: string; baseModelRevision?: string; baseModelDir?: string }): Promise<{ ref: HubModelRef; hfConfig: Gpt2HfConfig } | null> {
  if (body.baseModel === undefined) {
    if (body.baseModelRevision !== undefined) throw new HttpError(400, 'invalid_base_model', 'baseModelRevision: needs baseModel', 'baseModelRevision');
    return null;
  }
  if (body.baseModelDir !== undefined) {
    throw new HttpError(400, 'invalid_base_model', 'baseModel: name either baseModel (a hub id) or baseModelDir (a directory), not both', 'baseModel');
  }
  const ref: HubModelRef = { repo: body.baseModel, ...(body.baseModelRevision === undefined ? {} : { revision: body.baseModelRevision }) };
  try {
    const dir = await downloadHubConfig(ref, { progressBar: false });
    return { ref, hfConfig: await readGpt2Config(dir) };
  } catch (err) {
    if (err instanceof RangeError || (err instanceof Error && HF_ERROR_NAMES.has(err.name))) {
      throw new HttpError(400, 'invalid_base_model', `baseModel: ${err.message.split(process.cwd()).join('.')}`, 'baseModel');
    }
    if (err instanceof Error && (err.name === 'HfHubTransferError' || err.name === 'HfHubChecksumError')) {
      throw new HttpError(502, 'hub_unavailable', `baseModel: the model hub could not be reached or sent a corrupt config.json; try again later`, 'baseModel');
    }
    throw err;
  }
}

/**
 * The config with the tokenizer and lengths the workers will derive from the same rows
 * (spec/data-aware-config); data that cannot fit is a 400 naming the field.
 */
function dataAwareOr400(config: RunConfig, rows: readonly FeedbackExample[]): { config: RunConfig; lengths: DataLengths | null } {
  try {
    return dataAwareConfig(config, rows);
  } catch (err) {
    if (err instanceof ConfigError) throw new HttpError(400, 'feedback_does_not_fit', err.message, err.field);
    throw err;
  }
}

/**
 * The run id of a start. Under an Idempotency-Key it is derived from (project, key, request), so
 * a retry whose first attempt started the workflow but lost its COMMIT (the row and the key's
 * record roll back together) starts the same workflow id again and finds it already started,
 * instead of starting a second run. A key reused after its record expired (IDEMPOTENCY_KEY_TTL_HOURS)
 * finds that id taken by the earlier run and gets a fresh one.
 */
/** 422 naming `feedbackVersions.N` for the first version the agent does not have. */
async function requireFeedbackVersions(request: FastifyRequest, agentId: string, versions: readonly string[]): Promise<void> {
  const existing = await request.repos.policyVersions.existingVersions(agentId, versions);
  const missing = versions.findIndex((v) => !existing.has(v));
  if (missing >= 0) throw new HttpError(422, 'unknown_version', `agent ${agentId} has no policy version ${versions[missing]}`, `feedbackVersions.${missing}`);
}

async function runIdFor(request: FastifyRequest, repos: Repositories): Promise<string> {
  const key = request.headers[IDEMPOTENCY_KEY_HEADER];
  if (typeof key !== 'string') return newRunId();
  const { projectId } = identityOf(request);
  const derived = runIdFromKey(projectId, key, requestHash(request));
  return (await repos.trainingRuns.get(derived)) ? newRunId() : derived;
}

function isActiveRunExists(err: unknown): err is ActiveRunExistsError {
  return (err as { name?: string } | null)?.name === 'ActiveRunExistsError';
}

/** A keyed start's transaction hit the one-active-run index (or the same derived run id) and could not look further. */
function lostRaceInTransaction(err: unknown): boolean {
  return isActiveRunExists(err) && err.activeRunId === null;
}

const trainRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const { minFeedbackForTraining, flopsPerSecond } = fastify.appConfig;

  fastify.post(
    '/api/policies/train_policy/:agentId',
    {
      schema: {
        summary: 'Estimate (dryRun) or start training a new policy version from the agent\'s feedback (a start is idempotent under Idempotency-Key)',
        params: AgentIdParams,
        headers: IdempotencyHeaders,
        body: TrainBody,
        response: { 200: DryRunBody, 202: RunStartedBody, 409: ErrorBody, 422: ErrorBody, 502: ErrorBody, ...agentErrorResponses },
      },
    },
    async (request, reply) => {
      const { agentId } = request.params;
      const { dryRun = false, maxSteps, learningRate, seed, reuseRewardModel, feedbackVersions } = request.body;
      const preset: PresetName = request.body.preset ?? DEFAULT_PRESET;
      await requireOwnedAgent(request, agentId);
      if (feedbackVersions) await requireFeedbackVersions(request, agentId, feedbackVersions);
      const stats = await request.repos.feedback.scoreStats(agentId, feedbackVersions);
      if (stats.count < minFeedbackForTraining) throw new InsufficientFeedbackError(stats.count, minFeedbackForTraining);
      const hub = await requestedHubModel(request.body);
      const base = hub ? null : await requestedBaseModel(fastify.appConfig.env.RLHF_BASE_MODEL_ROOT, request.body.baseModelDir);
      const resolved = resolveRunConfig(preset, { maxSteps, learningRate, seed });
      const baseConfig = hub?.hfConfig ?? base?.hfConfig;
      // The workers derive the run's tokenizer and lengths from the same rows (activities/data
      // splitDataset); deriving them here shows them in the dry run and refuses data that cannot
      // fit with a 400. A pretrained base keeps its own tokenizer and context length.
      const { config, lengths } = baseConfig
        ? { config: runConfigForBase(resolved, baseConfig), lengths: null }
        : dataAwareOr400(resolved, await request.repos.feedback.listForTraining(agentId, feedbackVersions));

      if (dryRun) {
        const estimate = estimateDryRun(config, stats.count, flopsPerSecond);
        return reply.status(200).send({
          status: 'dry_run',
          feedbackCount: stats.count,
          ...estimate,
          scoreMean: stats.mean ?? 0,
          scoreStd: stats.std ?? 0,
          modelConfig: {
            preset,
            tokenizer: { kind: config.tokenizer?.kind ?? 'byte', vocabSize: config.policyModel.vocabSize },
            policy: config.policyModel,
            rewardModel: config.reward.model,
            parameters: estimate.parameters,
          },
          lengths: lengths && {
            ...lengths,
            maxNewTokens: config.ppo.generation.maxNewTokens,
            minNewTokens: config.ppo.generation.minNewTokens ?? 0,
            blockSize: config.policyModel.blockSize,
          },
        });
      }

      const startRun = () => idempotentWrite(request, async (repos) => {
        // An active row whose workflow already closed (worker lost, terminated) must not block the agent forever.
        const active = await repos.trainingRuns.findActive(agentId);
        if (active) {
          const observed = await observeRun(fastify.temporal, repos, active);
          if (!isFinishedStatus(observed.run.status)) {
            throw new ActiveRunExistsError(agentId, active.id);
          }
        }

        const runId = await runIdFor(request, repos);
        const workflowId = workflowIdOf(runId);
        // The row comes first: the partial unique index decides a race between two requests.
        await repos.trainingRuns.create({ id: runId, workflowId, agentId, config: { preset, maxSteps, learningRate, seed, baseModelDir: request.body.baseModelDir, baseModel: hub?.ref, reuseRewardModel, feedbackVersions } });
        try {
          await startTrainingWorkflowOnce(fastify.temporal, { runId, agentId, preset, maxSteps, learningRate, seed, baseModelDir: base?.dir, baseModel: hub?.ref, reuseRewardModel, feedbackVersions, ...operatorRunOptions(fastify.appConfig) });
        } catch (err) {
          await repos.trainingRuns.setStatus(runId, 'failed', 'could not start the training workflow');
          throw err;
        }
        request.log.info({ runId, agentId, preset }, 'training run started');
        return { status: 202, body: { runId, workflowId, status: 'started', links: runLinks(runId) } };
      });
      // A start that lost a race rolled back without seeing the winner: once more, it replays the winner's
      // answer (same key and request) or answers the 409 naming the active run. A keyed start also tries once
      // more on a 409 that names the run: two requests with one key race, the first commits its run and its
      // key's record while the second is past its key lookup, so the second sees the run, not the record.
      const keyed = request.headers[IDEMPOTENCY_KEY_HEADER] !== undefined;
      const tryAgain = (err: unknown) => lostRaceInTransaction(err) || (keyed && isActiveRunExists(err));
      const answer = await startRun().catch((err: unknown) => (tryAgain(err) ? startRun() : Promise.reject(err)));
      if (answer.replayed) reply.header(REPLAYED_HEADER, 'true');
      return reply.status(answer.status).send(answer.body as Static<typeof RunStartedBody>);
    },
  );
};

export default trainRoutes;
