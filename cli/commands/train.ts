/** `rlhf train A [--preset] [--dry-run] [--max-steps] [--learning-rate] [--seed] [--watch]`. */
import { Command, InvalidArgumentError } from 'commander';
import { PRESET_NAMES, type PresetName } from '../../spec/run-config';
import type { TrainRequest } from '../api-client';
import { finiteNumber, positiveInt, type CliContext } from '../context';
import { table } from '../watch';
import { safeId } from './feedback';
import { watchRun } from './runs';

interface TrainOptions {
  preset?: string;
  dryRun?: boolean;
  maxSteps?: number;
  learningRate?: number;
  seed?: number;
  watch?: boolean;
}

function preset(value: string): string {
  if (!(PRESET_NAMES as readonly string[]).includes(value)) throw new InvalidArgumentError(`expected one of ${PRESET_NAMES.join(', ')}, got ${JSON.stringify(value)}`);
  return value;
}

function seed(value: string): number {
  if (value === '0') return 0;
  return positiveInt(value);
}

export function trainCommand(ctx: CliContext): Command {
  return new Command('train')
    .description('start a training run for an agent (or estimate one with --dry-run)')
    .argument('<agentId>', 'the agent', safeId)
    .option('--preset <name>', `training preset: ${PRESET_NAMES.join(', ')} (server default: quick)`, preset)
    .option('--dry-run', 'estimate steps and time; start nothing')
    .option('--max-steps <n>', 'total PPO updates', positiveInt)
    .option('--learning-rate <lr>', 'PPO learning rate', finiteNumber)
    .option('--seed <n>', 'seed of every RNG in the run', seed)
    .option('--watch', 'follow the run until it ends (like `rlhf runs watch`)')
    .action((agentId: string, opts: TrainOptions) => train(ctx, agentId, opts));
}

async function train(ctx: CliContext, agentId: string, opts: TrainOptions): Promise<void> {
  const client = ctx.client();
  const body: TrainRequest = {
    ...(opts.dryRun ? { dryRun: true } : {}),
    ...(opts.preset ? { preset: opts.preset as PresetName } : {}),
    ...(opts.maxSteps !== undefined ? { maxSteps: opts.maxSteps } : {}),
    ...(opts.learningRate !== undefined ? { learningRate: opts.learningRate } : {}),
    ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
  };
  const answer = await client.train(agentId, body);
  if (answer.kind === 'dry_run') {
    if (ctx.json) return ctx.printJson(answer.answer);
    const a = answer.answer;
    ctx.print(
      table([
        ['preset', a.modelConfig.preset],
        ['feedback rows', String(a.feedbackCount)],
        ['PPO updates', String(a.estimatedSteps)],
        ['optimizer steps', String(a.estimatedOptimizerSteps)],
        ['estimated time', `${a.estimatedTimeMinutes.toFixed(1)} min`],
        ['score mean / std', `${a.scoreMean.toFixed(3)} / ${a.scoreStd.toFixed(3)}`],
        ['parameters', `policy ${a.modelConfig.parameters.policy}, reward model ${a.modelConfig.parameters.rewardModel}`],
      ]),
    );
    return;
  }
  const { runId, workflowId } = answer.answer;
  if (ctx.json && !opts.watch) return ctx.printJson(answer.answer);
  ctx.note(`run ${runId} started (workflow ${workflowId})`);
  if (!ctx.json) ctx.print(runId);
  if (opts.watch) await watchRun(ctx, runId, {});
}
