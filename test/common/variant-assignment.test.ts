/** Sticky traffic split (common/variant-assignment.ts, issue 13). */
import { assignVariant, subjectPoint, variantAt } from '../../common/variant-assignment';

const split = [
  { version: 'v1', weight: 0.9 },
  { version: 'v2', weight: 0.1 },
];

it('puts 10,000 subjects within ±2 % of weights 0.9 / 0.1', () => {
  const counts = new Map<string, number>();
  for (let i = 0; i < 10_000; i++) {
    const v = assignVariant(split, 'agent-ab', `user-${i}`).version;
    counts.set(v, (counts.get(v) ?? 0) + 1);
  }
  expect(Math.abs((counts.get('v1') ?? 0) / 10_000 - 0.9)).toBeLessThanOrEqual(0.02);
  expect(Math.abs((counts.get('v2') ?? 0) / 10_000 - 0.1)).toBeLessThanOrEqual(0.02);
});

it('gives one subject the same variant every time, and hashes the agent in', () => {
  for (let i = 0; i < 200; i++) {
    const first = assignVariant(split, 'agent-ab', `s${i}`).version;
    expect(assignVariant(split, 'agent-ab', `s${i}`).version).toBe(first);
  }
  // Across agents the points are independent: not every subject lands at the same place.
  const same = Array.from({ length: 200 }, (_, i) => subjectPoint('agent-a', `s${i}`) === subjectPoint('agent-b', `s${i}`));
  expect(same.filter(Boolean).length).toBe(0);
});

it('moves only the subjects that cross a boundary when the weights change', () => {
  const wider = [
    { version: 'v1', weight: 0.5 },
    { version: 'v2', weight: 0.5 },
  ];
  for (let i = 0; i < 2000; i++) {
    // A subject on v2 at 10 % stays on v2 at 50 %: v2 holds [0.9, 1) then [0.5, 1).
    if (assignVariant(split, 'agent-ab', `u${i}`).version === 'v2') expect(assignVariant(wider, 'agent-ab', `u${i}`).version).toBe('v2');
  }
});

it('maps a point to the variant whose cumulative interval holds it', () => {
  expect(variantAt(split, 0).version).toBe('v1');
  expect(variantAt(split, 0.8999).version).toBe('v1');
  expect(variantAt(split, 0.9).version).toBe('v2');
  expect(variantAt(split, 0.999999).version).toBe('v2');
  // Weights that sum to 1 only up to rounding never leave a point unassigned.
  expect(variantAt([{ version: 'a', weight: 0.7 }, { version: 'b', weight: 0.2 }, { version: 'c', weight: 0.1 - 1e-12 }], 0.9999999999).version).toBe('c');
  expect(() => variantAt([], 0.5)).toThrow(RangeError);
});

it('draws at random without a subject, near the weights', () => {
  let v2 = 0;
  for (let i = 0; i < 4000; i++) if (assignVariant(split, 'agent-ab', null).version === 'v2') v2++;
  // 4000 draws at p = 0.1: sd 19; ±100 is over 5 sd.
  expect(Math.abs(v2 - 400)).toBeLessThan(100);
});
