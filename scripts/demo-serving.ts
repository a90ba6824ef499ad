/**
 * The demo's closing of the loop (issue 13), after a run has published a version:
 * 1. deploys it: all traffic when it is the agent's only version; otherwise a 50/50 split with
 *    the version before it, sticky by subject;
 * 2. sends prompts through the serving process's `generate`, as end users would (one subject
 *    each; the task's kinds of request, freshly worded, never the held-out evaluation prompts);
 * 3. rates every answer with the synthetic task's TRUE score and posts it as feedback with the
 *    answer's requestId (attributed to the version that answered);
 * 4. prints the A/B report. Running the demo again trains the next version on all feedback,
 *    these rated answers included, and compares it with this one.
 */
import { createHash } from 'node:crypto';
import type { FeedbackItem, RlhfApiClient } from '../cli/api-client';
import type { ServeClient } from '../cli/serve-client';

export interface ServedTask {
  name: string;
  /** Prompts end users send (not the held-out evaluation prompts: their ratings become training feedback). */
  served: string[];
  trueScore(prompt: string, response: string): number;
}

/** Answers per run: enough for the report's intervals to separate a gain of about 0.1 (score sd ≈ 0.3). */
const SERVED_ANSWERS = 256;
const CONCURRENCY = 8;

const oneLine = (text: string, max = 90) => (text.length > max ? `${text.slice(0, max)}…` : text).replace(/\s+/g, ' ').trim();
const f3 = (x: number | null) => (x === null ? '   —  ' : x.toFixed(3));

/** `task` null (the user's own feedback file): deploy and show one answer; nothing to rate it with. */
export async function closeTheLoop(api: RlhfApiClient, serve: ServeClient, agentId: string, task: ServedTask | null, runId: string, samplePrompt: string): Promise<void> {
  const versions = (await api.listPolicies(agentId)).policies.map((p) => p.version); // newest first
  const [newest, previous] = versions;
  const deployment = await api.setDeployment(
    agentId,
    previous ? { variants: [{ version: previous, weight: 0.5 }, { version: newest, weight: 0.5 }], sticky: 'subject' } : { variants: [{ version: newest, weight: 1 }], sticky: 'subject' },
  );
  console.log(`\ndeployment       ${deployment.variants.map((v) => `${v.version} ${Math.round(v.weight * 100)} %`).join(', ')} (sticky by subject)`);
  if (!task) {
    const answer = await serve.generate(agentId, { prompt: samplePrompt, subject: 'demo-user' });
    console.log(`generate         "${oneLine(samplePrompt)}" → ${answer.version}: "${oneLine(answer.completions[0].text)}"`);
    return;
  }

  const items: FeedbackItem[] = [];
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < SERVED_ANSWERS; i = next++) {
      const prompt = task.served[i % task.served.length];
      const answer = await serve.generate(agentId, { prompt, subject: `demo-user-${runId}-${i}` });
      const text = answer.completions[0].text;
      items.push({ prompt, response: text, score: task.trueScore(prompt, text), runId: 'demo-served', requestId: answer.requestId });
      if (i === 0) console.log(`generate         "${oneLine(prompt)}" → ${answer.version}: "${oneLine(text)}"`);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const key = createHash('sha256').update(`demo-served:${runId}`).digest('hex');
  await api.feedbackBatch(agentId, items, key);
  console.log(`served and rated ${items.length} answers through serve/ (${task.name}'s true score as the rating, attributed by requestId)`);

  // Only the answers served under this deployment: both variants saw the same prompts in the same period.
  const report = await api.abReport(agentId, deployment.changedAt);
  console.log(`\nA/B report (GET /api/policies/${agentId}/ab?since=<this deployment>)`);
  console.log('  version  weight  rows   mean score  95 % interval');
  for (const v of report.versions) {
    const iv = v.interval ? `[${f3(v.interval.low)}, ${f3(v.interval.high)}]` : '—';
    console.log(`  ${v.version.padEnd(8)} ${v.weight.toFixed(2).padStart(6)}  ${String(v.rows).padStart(4)}   ${f3(v.meanScore)}      ${iv}`);
  }
  for (const c of report.comparisons) {
    const iv = c.interval ? `[${f3(c.interval.low)}, ${f3(c.interval.high)}]` : '—';
    console.log(`  ${c.version} vs ${c.control}: difference ${f3(c.difference)} ${iv} → ${c.verdict.replace(/_/g, ' ')}`);
  }
  if (!previous) console.log('  (run the demo again: it trains the next version on all feedback, these ratings included, and splits traffic 50/50 with this one)');
}
