/**
 * The evaluation phase's before/after table (common/evaluation-report.ts), as `rlhf runs watch` and
 * the demo print it at the end of a run: one home for how a report reads on a terminal.
 */
import type { EvaluationReport, Interval } from '../common/evaluation-report';

const f3 = (x: number) => x.toFixed(3);
const ci = (i: Interval) => `${f3(i.mean)} [${f3(i.lo)}, ${f3(i.hi)}]`;

/** Whether a result's `evaluation` field is an evaluation report (and not some other object). */
export function isEvaluationReport(value: unknown): value is EvaluationReport {
  const v = value as Partial<EvaluationReport> | null;
  return typeof v === 'object' && v !== null && typeof v.start === 'object' && typeof v.final === 'object' && typeof v.verdict === 'string';
}

/** The table, the gain and win rate with their 95 % intervals, the verdict and up to `pairs` sample pairs. */
export function renderEvaluation(ev: EvaluationReport, opts: { pairs?: number } = {}): string {
  const rows: [string, string, string][] = [
    ['reward model score', ci(ev.start.rewardMean), ci(ev.final.rewardMean)],
    ['KL to reference (nats)', ci(ev.start.klToReference), ci(ev.final.klToReference)],
    ['response length (tokens)', ci(ev.start.responseLength), ci(ev.final.responseLength)],
    ['empty replies', f3(ev.start.emptyFraction), f3(ev.final.emptyFraction)],
    ['distinct-1 / distinct-2', `${f3(ev.start.distinct1)} / ${f3(ev.start.distinct2)}`, `${f3(ev.final.distinct1)} / ${f3(ev.final.distinct2)}`],
  ];
  const lines = [
    `evaluation: start vs final policy on ${ev.prompts} held-out prompts × ${ev.samplesPerPrompt} samples, 95 % bootstrap CI`,
    `  ${'metric'.padEnd(26)}${'before (start)'.padEnd(28)}after (final)`,
    ...rows.map(([k, a, b]) => `  ${k.padEnd(26)}${a.padEnd(28)}${b}`),
    `  RM gain ${ci(ev.rewardGain)}, win rate final over start ${ci(ev.winRate)}`,
    `  verdict: ${ev.verdict}${ev.reason ? ` (${ev.reason})` : ''}`,
  ];
  for (const p of ev.pairs.slice(0, opts.pairs ?? 3)) {
    lines.push(`  prompt ${JSON.stringify(p.prompt)}`);
    lines.push(`    before (RM ${f3(p.startReward)}) ${JSON.stringify(p.start)}`);
    lines.push(`    after  (RM ${f3(p.finalReward)}) ${JSON.stringify(p.final)}`);
  }
  return lines.join('\n');
}
