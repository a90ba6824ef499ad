/** api/temporal-errors: a Temporal that is down or past the RPC deadline is told apart from other errors. */
import { isTemporalUnavailable } from '../../api/temporal-errors';

it('recognises gRPC UNAVAILABLE and DEADLINE_EXCEEDED, bare or as a ServiceError cause, and nothing else', () => {
  expect(isTemporalUnavailable(Object.assign(new Error('14 UNAVAILABLE: No connection established'), { code: 14 }))).toBe(true);
  expect(isTemporalUnavailable(Object.assign(new Error('4 DEADLINE_EXCEEDED'), { code: 4 }))).toBe(true);
  expect(isTemporalUnavailable(Object.assign(new Error('Failed to pause schedule'), { name: 'ServiceError', cause: { code: 4 } }))).toBe(true);
  expect(isTemporalUnavailable(Object.assign(new Error('5 NOT_FOUND'), { code: 5 }))).toBe(false);
  expect(isTemporalUnavailable(Object.assign(new Error('db'), { code: '57P01' }))).toBe(false);
  expect(isTemporalUnavailable(new Error('plain'))).toBe(false);
  expect(isTemporalUnavailable(null)).toBe(false);
});
