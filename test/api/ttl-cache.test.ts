/** TtlCache (api/ttl-cache.ts): expiry on a fake clock, eviction of the oldest entry, TTL 0 disables it. */
import { TtlCache } from '../../api/ttl-cache';

it('forgets an entry once its TTL has passed', () => {
  let now = 1_000;
  const cache = new TtlCache<string>(500, 10, () => now);
  cache.set('k', 'v');
  now += 499;
  expect(cache.get('k')).toBe('v');
  now += 1;
  expect(cache.get('k')).toBeUndefined();
});

it('evicts the oldest entry when full, and a re-set entry counts as new', () => {
  const cache = new TtlCache<number>(Number.POSITIVE_INFINITY, 2);
  cache.set('a', 1);
  cache.set('b', 2);
  cache.set('a', 3);
  cache.set('c', 4);
  expect([cache.get('a'), cache.get('b'), cache.get('c')]).toEqual([3, undefined, 4]);
});

it('keeps nothing with a TTL of 0', () => {
  const cache = new TtlCache<string>(0, 10);
  cache.set('k', 'v');
  expect(cache.get('k')).toBeUndefined();
});
