/** The end-of-run table and the terminal line (pure parts of cli/watch.ts and cli/progress.ts). */
import { renderCountLine, TerminalLine } from '../../cli/progress';
import type { RlhfApiClient, RunViewBody } from '../../cli/api-client';
import { liveRunViews, renderResultTable } from '../../cli/watch';

it('renders the result fields, then the evaluation report as a before/after table with its verdict and pairs', () => {
  const iv = (mean: number) => ({ mean, lo: mean - 0.1, hi: mean + 0.1 });
  const side = (reward: number, kl: number) => ({ rewardMean: iv(reward), klToReference: iv(kl), responseLength: iv(12), emptyFraction: 0, distinct1: 0.5, distinct2: 0.75 });
  const text = renderResultTable({
    status: 'trained',
    version: 'v2',
    trainingSteps: 20,
    rewardMean: 0.123456,
    evaluation: {
      prompts: 8,
      samplesPerPrompt: 2,
      seed: 11,
      start: side(0.1, 0),
      final: side(0.5, 1.25),
      rewardGain: iv(0.4),
      winRate: iv(0.7),
      significant: true,
      verdict: 'improved',
      reason: null,
      pairs: [{ prompt: 'Q1: ', start: 'a', final: 'b', startReward: 0.1, finalReward: 0.6 }],
    },
    guardrails: { trips: 1 },
  });
  expect(text.split('\n')).toEqual([
    'status         trained',
    'version        v2',
    'trainingSteps  20',
    'rewardMean     0.1235',
    '',
    'evaluation: start vs final policy on 8 held-out prompts × 2 samples, 95 % bootstrap CI',
    '  metric                    before (start)              after (final)',
    '  reward model score        0.100 [0.000, 0.200]        0.500 [0.400, 0.600]',
    '  KL to reference (nats)    0.000 [-0.100, 0.100]       1.250 [1.150, 1.350]',
    '  response length (tokens)  12.000 [11.900, 12.100]     12.000 [11.900, 12.100]',
    '  empty replies             0.000                       0.000',
    '  distinct-1 / distinct-2   0.500 / 0.750               0.500 / 0.750',
    '  RM gain 0.400 [0.300, 0.500], win rate final over start 0.700 [0.600, 0.800]',
    '  verdict: improved',
    '  prompt "Q1: "',
    '    before (RM 0.100) "a"',
    '    after  (RM 0.600) "b"',
    '',
    'guardrails',
    'trips  1',
  ]);
});

it('redraws one line in place on a terminal, and prints each change once elsewhere', () => {
  const tty: string[] = [];
  const line = new TerminalLine({ isTTY: true, write: (s: string) => tty.push(s) });
  line.update('rows  a  10/20');
  line.update('rows  a  10/20');
  line.update('rows  b  20/20');
  line.end();
  expect(tty).toEqual(['\rrows  a  10/20', '\rrows  b  20/20', '\n']);

  const log: string[] = [];
  const plain = new TerminalLine({ write: (s: string) => log.push(s) });
  plain.update(renderCountLine('rows', 0, 4));
  plain.update(renderCountLine('rows', 0, 4));
  plain.update(renderCountLine('rows', 4, 4));
  plain.end();
  expect(log).toEqual(['rows  ░░░░░░░░░░░░░░░░░░░░░░░░  0/4\n', 'rows  ████████████████████████  4/4\n']);
});

describe('liveRunViews on a quiet event stream', () => {
  it('reads the view again every interval while no event comes (epoch progress has none), then one per event', async () => {
    const encoder = new TextEncoder();
    let push: ((text: string) => void) | null = null;
    let gets = 0;
    const view = (step: number, status = 'running') => ({ runId: 'r1', status, progress: { phase: 'reward_model', step, total: 40 }, result: null });
    const client = {
      // Epoch 1, 2, 3 … of the reward model: each read sees the next heartbeat.
      getRun: async () => {
        gets += 1;
        return view(gets) as unknown as RunViewBody;
      },
      openRunEvents: async (_runId: string, _last: string | null, signal: AbortSignal) =>
        new ReadableStream<Uint8Array>({
          start(controller) {
            push = (text) => controller.enqueue(encoder.encode(text));
            signal.addEventListener('abort', () => controller.error(new Error('aborted')));
          },
        }),
    } as unknown as RlhfApiClient;
    const steps: number[] = [];
    for await (const v of liveRunViews(client, 'r1', { intervalMs: 5 })) {
      steps.push((v.progress as { step: number }).step);
      // Views 2-4 come with no event at all (timed reads); then one event arrives.
      if (steps.length === 4) push!('id: 1\nevent: phase\ndata: {}\n\n');
      if (steps.length === 6) break;
    }
    expect(steps).toEqual([1, 2, 3, 4, 5, 6]);
  });
});
