import { Rng } from '../../ml/rng';
import { mean, pearson } from '../../ml/stats';
import {
  SUPPORT_LENGTH,
  SUPPORT_PHRASES,
  makeSupportFeedback,
  phraseCoverage,
  promptTopic,
  trueScore,
} from '../../ml/tasks/support-replies';

describe('support-replies task', () => {
  const rows = makeSupportFeedback(400, new Rng(7));
  const truths = rows.map((r) => trueScore(r.prompt, r.response));

  it('writes replies of 50-150 bytes for most rows, from the phrase banks', () => {
    const inRange = rows.filter((r) => r.response.length >= SUPPORT_LENGTH.min && r.response.length <= SUPPORT_LENGTH.max);
    expect(inRange.length / rows.length).toBeGreaterThan(0.7);
    for (const r of rows) expect(phraseCoverage(r.response)).toBe(1);
  });

  it('scores by the stated rule, and ratings are noisy whole numbers 1-10 that follow it', () => {
    const p = '#3 Where is my refund?\n';
    expect(promptTopic(p)).toBe('refund');
    const good = `${SUPPORT_PHRASES.greeting[0]} ${SUPPORT_PHRASES.empathy[0]} ${SUPPORT_PHRASES.action.refund[0]} ${SUPPORT_PHRASES.closing[0]}`;
    expect(trueScore(p, good)).toBeCloseTo(0.85, 10);
    expect(trueScore(p, '')).toBeCloseTo(-0.65, 10);
    expect(trueScore(p, `${SUPPORT_PHRASES.action.billing[0]} ${SUPPORT_PHRASES.rude[0]} ${SUPPORT_PHRASES.closing[0]} ${SUPPORT_PHRASES.closing[0]}`)).toBeCloseTo(-0.95, 10);
    for (const r of rows) expect(Number.isInteger(r.score) && r.score >= 1 && r.score <= 10).toBe(true);
    const rho = pearson(rows.map((r) => r.score), truths);
    expect(rho).toBeGreaterThan(0.85);
    expect(rho).toBeLessThan(0.99);
    expect(Math.max(...truths) - Math.min(...truths)).toBeGreaterThan(1);
    expect(mean(truths)).toBeLessThan(0.5);
  });

  it('gives byte noise a coverage near 0', () => {
    expect(phraseCoverage('I ce coucokthace Degk ishag')).toBeLessThan(0.3);
  });
});
