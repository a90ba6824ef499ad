import { Rng } from '../../ml/rng';
import { negativeReply, synthesiseNegatives, NegativeKinds } from '../../ml/reward-negatives';

const reply = 'Hi there. Sorry for the trouble. Your refund is on its way. Have a good day.';

describe('synthesised reward-model negatives', () => {
  it('makes empty, truncated, repeated and word-shuffled replies from a real one', () => {
    const rng = new Rng(1);
    expect(negativeReply(NegativeKinds.empty, reply, rng)).toBe('');
    const cut = negativeReply(NegativeKinds.truncated, reply, rng);
    expect(reply.startsWith(cut) && cut.length > 0 && cut.length <= 0.4 * reply.length).toBe(true);
    const rep = negativeReply(NegativeKinds.repeated, reply, rng);
    expect(rep.length).toBeLessThanOrEqual(reply.length);
    expect(new Set(rep.split(' ')).size).toBeLessThanOrEqual(2);
    const shuffled = negativeReply(NegativeKinds.shuffled, reply, rng);
    expect(shuffled).not.toBe(reply);
    expect(shuffled.split(' ').sort()).toEqual(reply.split(' ').sort());
  });

  it('adds round(fraction × rows) rows at the lowest score, every kind, seeded', () => {
    const rows = Array.from({ length: 20 }, (_, i) => ({ prompt: `p${i}`, response: `${reply} ${i}`, score: 2 + i }));
    const a = synthesiseNegatives(rows, 0.25, new Rng(3));
    expect(a).toHaveLength(5);
    expect(a.every((r) => r.score === 2)).toBe(true);
    expect(a.some((r) => r.response === '')).toBe(true);
    expect(a).toEqual(synthesiseNegatives(rows, 0.25, new Rng(3)));
    expect(synthesiseNegatives(rows, 0, new Rng(3))).toEqual([]);
  });
});
