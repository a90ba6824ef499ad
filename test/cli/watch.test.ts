/** The end-of-run table and the terminal line (pure parts of cli/watch.ts and cli/progress.ts). */
import { renderCountLine, TerminalLine } from '../../cli/progress';
import { renderResultTable } from '../../cli/watch';

it('renders the result fields, then an evaluation block as before/after columns', () => {
  const text = renderResultTable({
    status: 'trained',
    version: 'v2',
    trainingSteps: 20,
    rewardMean: 0.123456,
    evaluation: { before: { reward: 0.1, kl: 0 }, after: { reward: 0.5, kl: 1.25, length: 9 } },
  });
  expect(text).toBe(
    [
      'status         trained',
      'version        v2',
      'trainingSteps  20',
      'rewardMean     0.1235',
      '',
      'evaluation',
      'metric  before  after',
      'reward  0.1000  0.5000',
      'kl      0       1.2500',
      'length          9',
    ].join('\n'),
  );
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
