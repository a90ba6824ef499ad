/** `rlhf policies list A`: the agent's policy versions, newest first. */
import { Command } from 'commander';
import type { CliContext } from '../context';
import { table } from '../watch';
import { safeId } from './feedback';

export function policiesCommand(ctx: CliContext): Command {
  const policies = new Command('policies').description('trained policy versions');
  policies
    .command('list')
    .description("list an agent's policy versions, newest first")
    .argument('<agentId>', 'the agent', safeId)
    .action(async (agentId: string) => {
      const list = await ctx.client().listPolicies(agentId);
      if (ctx.json) return ctx.printJson(list);
      if (list.policies.length === 0) return ctx.print(`agent ${agentId} has no policy versions yet`);
      const num = (v: unknown) => (typeof v === 'number' ? v.toFixed(4) : '');
      ctx.print(
        table([
          ['version', 'created', 'feedback', 'reward mean', 'reward std', 'model path'],
          ...list.policies.map((p) => [p.version, p.createdAt, String(p.feedbackCount), num(p.rewardMean), num(p.rewardStd), p.modelKey]),
        ]),
      );
    });
  return policies;
}
